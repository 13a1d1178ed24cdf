/**
 * Seeded pseudo-random numbers for the synthetic data generator.
 *
 * xoshiro128** (Blackman & Vigna) seeded through splitmix32: 128 bits of state,
 * fast on 32-bit integer maths, and good enough statistically for demo data.
 * Not cryptographic — it must never be used for keys, tokens or ids that guard
 * anything. Math.random is avoided on purpose: the same seed must give the
 * same bytes on every machine and every run.
 */

export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** True with probability p. */
  chance(p: number): boolean;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
  /** Normally distributed value (Box–Muller). */
  normal(mean: number, sd: number): number;
  /** k distinct elements of the list, in list order (k clamped to the length). */
  sample<T>(items: readonly T[], k: number): T[];
  /** Random version-4-shaped UUID built from the generator (deterministic). */
  uuid(): string;
}

/** splitmix32 step: spreads a weak seed (0, 1, 2, …) over all 32 bits. */
function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * Mixes several 32-bit integers into one seed. Used to give each patient its
 * own stream (seed, index), so patient 7 is the same whether generation starts
 * at 0 or at 7 — which is what makes `startIndex` and parallel runs consistent.
 */
export function mixSeed(...parts: number[]): number {
  const state = { s: 0x2545f491 };
  let h = 0;
  for (const part of parts) {
    state.s = (state.s ^ (part >>> 0) ^ h) | 0;
    h = splitmix32(state);
  }
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function createRng(seed: number): Rng {
  const init = { s: seed | 0 };
  let a = splitmix32(init);
  let b = splitmix32(init);
  let c = splitmix32(init);
  let d = splitmix32(init);
  if ((a | b | c | d) === 0) a = 1; // xoshiro's all-zero state is a fixed point

  function nextU32(): number {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  }

  const next = (): number => nextU32() / 4294967296;
  const rng: Rng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    normal(mean, sd) {
      const u = 1 - next(); // (0, 1]: log(0) would be -Infinity
      return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
    },
    sample(items, k) {
      // Selection sampling (Knuth's algorithm S): one pass, keeps list order.
      const out: (typeof items)[number][] = [];
      let needed = Math.min(k, items.length);
      for (let i = 0; i < items.length && needed > 0; i++) {
        if (next() * (items.length - i) < needed) {
          out.push(items[i] as (typeof items)[number]);
          needed--;
        }
      }
      return out;
    },
    uuid: () => formatUuid(nextU32(), nextU32(), nextU32(), nextU32()),
  };
  return rng;
}

function formatUuid(w0: number, w1: number, w2: number, w3: number): string {
  const bytes = [w0, w1, w2, w3].flatMap((w) => [w >>> 24, (w >>> 16) & 255, (w >>> 8) & 255, w & 255]);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x40; // version 4
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80; // RFC 4122 variant
  const h = bytes.map((x) => HEX[x] as string).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
