/** Latency samples and the summaries the results file reports. */
export interface LatencySummary {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

export function createSamples(): { add(ms: number): void; summary(): LatencySummary } {
  let data = new Float64Array(1 << 16);
  let n = 0;
  return {
    add(ms) {
      if (n === data.length) {
        const grown = new Float64Array(data.length * 2);
        grown.set(data);
        data = grown;
      }
      data[n++] = ms;
    },
    summary() {
      const sorted = data.slice(0, n).sort();
      const at = (p: number) => round(sorted[Math.min(n - 1, Math.floor(n * p))] ?? Number.NaN);
      let sum = 0;
      for (const v of sorted) sum += v;
      return { count: n, p50Ms: at(0.5), p90Ms: at(0.9), p95Ms: at(0.95), p99Ms: at(0.99), maxMs: at(1), meanMs: round(n ? sum / n : Number.NaN) };
    },
  };
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The median of the finite values (NaN marks a measurement that did not happen), rounded; NaN when none. */
export function median(values: number[], digits = 2): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = Math.floor(v.length / 2);
  return round(v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2, digits);
}

/** Fisher–Yates-free pick: the generator's randomness only needs to spread requests, not be unbiased. */
export function pick<T>(items: readonly T[]): T {
  const item = items[Math.floor(Math.random() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}
