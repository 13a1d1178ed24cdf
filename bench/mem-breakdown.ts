/** Reads the server's memory samples (bench/mem-trace.ts) back for one phase of a benchmark. */
import { readFileSync } from 'node:fs';
import { round } from './stats.js';

interface MemSample {
  t: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  spaces: Record<string, number>;
}

/**
 * What the RSS growth of one phase is made of (--mem-trace): the server's own
 * samples (bench/mem-trace.ts) at the phase's start and at its RSS peak, and
 * each figure's own peak growth over the phase.
 */
export function memoryBreakdown(file: string, from: number, to: number) {
  const samples = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as MemSample);
  const before = samples.filter((s) => s.t <= from).at(-1);
  const during = samples.filter((s) => s.t > from && s.t <= to);
  if (!before || during.length === 0) return undefined;
  const peak = during.reduce((a, s) => (s.rss > a.rss ? s : a));
  const flat = (s: MemSample) => ({ rss: s.rss, heapTotal: s.heapTotal, heapUsed: s.heapUsed, external: s.external, arrayBuffers: s.arrayBuffers, ...s.spaces });
  const start = flat(before);
  const atPeak = flat(peak);
  const growthAtRssPeak = Object.fromEntries(Object.entries(atPeak).map(([k, v]) => [k, round(v - (start[k as keyof typeof start] ?? 0), 1)]));
  const maxGrowth = Object.fromEntries(Object.keys(start).map((k) => [k, round(Math.max(...during.map((s) => (flat(s) as Record<string, number>)[k] ?? 0)) - (start as Record<string, number>)[k]!, 1)]));
  return { unit: 'MB', samples: during.length, start, growthAtRssPeak, maxGrowth };
}
