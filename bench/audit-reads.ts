/**
 * Audited read cost, A/B (issue 3: audited reads >= 85% of unaudited): the
 * read-by-id measurement of bench/path-cpu.ts run alternately on a base build
 * (`--base <dir>`, e.g. an archive of the previous commit with node_modules
 * linked and built) and on this checkout, audited, plus this checkout with
 * HAVEN_AUDIT=off as the reference. Reports CPU per read (server + its
 * PostgreSQL backends), rate, p99 and the read entries' group-commit batch
 * sizes (from audit_batch, so the base build needs no instrumentation).
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/audit-reads.js --base /tmp/ar-base [--variants name=dir,…] [--no-current] [--rounds 3] [--reads 15000] [--read-concurrency 16] [--out name]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { measurePathCpu } from './path-cpu.js';
import { round } from './stats.js';

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
const base = stringArg('base');
const rounds = positiveArg('rounds', 3);
const spec = { adminUrl, patients: positiveArg('patients', 60), concurrency: 3, reads: positiveArg('reads', 15000), readConcurrency: positiveArg('read-concurrency', 16) };
const off = { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' };
// `--variants name=dir,…`: further builds to compare (e.g. one setting changed), each audited.
const variants = (stringArg('variants') ?? '')
  .split(',')
  .filter(Boolean)
  .map((v) => v.split('=') as [string, string]);
const configs: Record<string, { cwd?: string; env?: Record<string, string> }> = {
  ...(base ? { 'base-audited': { cwd: resolve(base) } } : {}),
  ...Object.fromEntries(variants.map(([name, dir]) => [name, { cwd: resolve(dir) }])),
  ...(process.argv.includes('--no-current') ? {} : { audited: {} }),
  'audit-off': { env: off },
};

type Measured = Awaited<ReturnType<typeof measurePathCpu>>;
const samples: Record<string, ReturnType<typeof sampleOf>[]> = Object.fromEntries(Object.keys(configs).map((k) => [k, []]));
const loads: number[] = [];

function sampleOf(m: Measured) {
  return {
    readCpuMs: round(m.perRead.nodeCpuMsPerUnit + m.perRead.pgCpuMsPerUnit, 3),
    nodeCpuMs: m.perRead.nodeCpuMsPerUnit,
    pgCpuMs: m.perRead.pgCpuMsPerUnit,
    statementsPerRead: m.perRead.statementsPerUnit,
    readPerSecond: m.read.perSecond,
    p50Ms: m.read.latency.p50Ms,
    p99Ms: m.read.latency.p99Ms,
    errors: m.read.errors,
    batches: m.readAuditBatches,
    load1m: round(loadavg()[0]!),
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (let r = 0; r < rounds; r++) {
  // Alternate the order too, so a neighbour's burst does not always hit the same configuration.
  const names = Object.keys(configs);
  for (const name of r % 2 === 0 ? names : names.reverse()) {
    const c = configs[name]!;
    const m = await measurePathCpu({ ...spec, ...(c.env ? { env: c.env } : {}), ...(c.cwd ? { cwd: c.cwd } : {}) });
    const s = sampleOf(m);
    samples[name]!.push(s);
    loads.push(s.load1m);
    console.error(`[audit-reads] round ${r + 1} ${name}: ${JSON.stringify({ ...s, batches: { mean: s.batches.meanEntries, n: s.batches.batches } })}`);
  }
}

const summary = Object.fromEntries(
  Object.entries(samples).map(([k, v]) => [
    k,
    {
      readCpuMsPerRead: median(v.map((s) => s.readCpuMs)),
      nodeCpuMsPerRead: median(v.map((s) => s.nodeCpuMs)),
      pgCpuMsPerRead: median(v.map((s) => s.pgCpuMs)),
      statementsPerRead: median(v.map((s) => s.statementsPerRead)),
      readPerSecond: median(v.map((s) => s.readPerSecond)),
      p99Ms: median(v.map((s) => s.p99Ms)),
      meanEntriesPerBatch: median(v.map((s) => s.batches.meanEntries)),
      samples: v,
    },
  ]),
);
const ref = summary['audit-off']!;
const ratios = Object.fromEntries(
  Object.entries(summary)
    .filter(([k]) => k !== 'audit-off')
    .map(([k, v]) => [k, { cpu: round(ref.readCpuMsPerRead / v.readCpuMsPerRead, 3), rate: round(v.readPerSecond / ref.readPerSecond, 3) }]),
);
const result = {
  benchmark: 'audit-reads',
  at: new Date().toISOString(),
  machine: machineFacts(),
  base: base ?? null,
  spec: { ...spec, adminUrl: undefined, rounds },
  loadAverage1m: { min: Math.min(...loads), max: Math.max(...loads) },
  target: 'audited / unaudited >= 0.85 (issue 3); ratios: cpu = off CPU per read / audited CPU per read, rate = audited rate / off rate',
  ratios,
  summary,
};
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/${stringArg('out') ?? `audit-reads-${result.at.slice(0, 16).replace(/:/g, '-')}`}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ ratios, cpu: Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, [v.readCpuMsPerRead, v.readPerSecond, v.p99Ms, v.meanEntriesPerBatch]])) }, null, 1));
console.log(`written to ${file}`);
