/** The performance targets, each set beside the measured figure with a verdict. */
export interface Verdict {
  target: string;
  measured: number | null;
  unit: string;
  pass: boolean | null;
}

export function atLeast(target: number, measured: number | undefined, unit: string): Verdict {
  if (measured === undefined || Number.isNaN(measured)) return { target: `>= ${target}`, measured: null, unit, pass: null };
  return { target: `>= ${target}`, measured, unit, pass: measured >= target };
}

export function atMost(target: number, measured: number | undefined, unit: string): Verdict {
  if (measured === undefined || Number.isNaN(measured)) return { target: `<= ${target}`, measured: null, unit, pass: null };
  return { target: `<= ${target}`, measured, unit, pass: measured <= target };
}

export const TARGETS = {
  ingestResourcesPerSecond: 3_000,
  readPerSecond: 5_000,
  readP99Ms: 10,
  searchP99Ms: 50,
  searchC16PerSecond: 2_500,
  /** Issue 6: the benchmark set, interleaved, at concurrency 16. */
  searchSetC16PerSecond: 1_000,
  pagingRssGrowthMb: 50,
  serverRssMb: 300,
  embeddedVsExternalPercent: 10,
  startupExistingMs: 3_000,
  startupFreshMs: 10_000,
} as const;
