/**
 * The overhead of encryption or of the audit log, CPU per read by id and per
 * ingested resource (bench/path-cpu.ts: the server and its PostgreSQL
 * backends), of two builds of Haven in the same run: this checkout ("after")
 * and another one ("before", e.g. the base commit extracted and built in a
 * temporary directory). Builds and configurations alternate within every
 * round, and the build that goes first alternates between rounds, so machine
 * load and drift fall on all four alike.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/overhead-ab.js --before /tmp/base [--after .] [--rounds 3] [--patients 150] [--reads 15000] [--compare encryption|audit] [--audit-off] [--paired [S]] [--out name]
 *
 * `--compare encryption` (default): encryption on vs HAVEN_ENCRYPTION=off
 * (issue 4). `--audit-off` runs both configurations with HAVEN_AUDIT=off:
 * encryption's own read cost (the body's envelope), without the audit entry
 * it also seals and without the group-commit batch sizes, which move with
 * machine load and made PostgreSQL's CPU per read swing by half between runs
 * of one build.
 *
 * `--compare audit`: the audit log on vs HAVEN_AUDIT=off (issue 3: audited
 * reads >= 0.85 and audited ingest >= 0.90 of unaudited), encryption on in
 * both; the read batches' mean size is recorded per run.
 *
 * `--paired [S]` (default 10 s): the two configurations of a build run at the
 * same time, each against its own server and database, their timed ingest and
 * reads started together and the reads stopped together after S seconds. Run
 * one after the other, the per-round ratio of two identical builds spread
 * 0.78-1.06 on a noisy host, because the machine changed between the runs;
 * paired, both see the same minute. The two share the cores, so the absolute
 * CPU per read is that of a loaded machine; compare the ratios. The ingest
 * phases start together but the faster one ends first, so its partner's tail
 * runs on a quieter machine: the read ratio is the paired figure to quote.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { machineFacts } from './machine.js';
import { positiveArg } from './options.js';
import { createPairSync } from './pair-sync.js';
import { measurePathCpu } from './path-cpu.js';
import { round } from './stats.js';

const arg = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
const beforeDir = arg('before');
if (!beforeDir) throw new Error('--before <directory of another built checkout> is required');
const builds = { before: resolve(beforeDir), after: resolve(arg('after') ?? '.') };
const spec = { adminUrl, patients: positiveArg('patients', 150), concurrency: 3, reads: positiveArg('reads', 15000), readConcurrency: 16 };
const rounds = positiveArg('rounds', 3);
const compare = arg('compare') ?? 'encryption';
if (compare !== 'encryption' && compare !== 'audit') throw new Error('--compare is encryption or audit');
const auditOff = process.argv.includes('--audit-off');
const audit: Record<string, string> = auditOff ? { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' } : {};
// The configuration under test first, its reference (the feature switched off) second.
const configs: Record<string, Record<string, string>> =
  compare === 'audit'
    ? { audited: {}, unaudited: { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' } }
    : { encrypted: { ...audit }, plain: { ...audit, HAVEN_ENV: 'test', HAVEN_ENCRYPTION: 'off' } };
const [on, off] = Object.keys(configs) as [string, string];
// `--paired S`: the two configurations of a build run at the same time, reads for S seconds each.
const pairedSeconds = (() => {
  const i = process.argv.indexOf('--paired');
  if (i < 0) return undefined;
  const next = process.argv[i + 1];
  return next === undefined || next.startsWith('--') ? 10 : positiveArg('paired', 10);
})();

interface Sample {
  readCpuMs: number;
  nodeCpuMs: number;
  pgCpuMs: number;
  ingestCpuMs: number;
  ingestNodeCpuMs: number;
  ingestPgCpuMs: number;
  readPerSecond: number;
  readBatchMeanEntries: number;
  load1m: number;
}
type Field = Exclude<keyof Sample, 'load1m' | 'readPerSecond'>;
type Key = `${keyof typeof builds}/${string}`;
const samples: Record<string, Sample[]> = {};
const sampleOf = (m: Awaited<ReturnType<typeof measurePathCpu>>): Sample => ({
  readCpuMs: round(m.perRead.nodeCpuMsPerUnit + m.perRead.pgCpuMsPerUnit, 3),
  nodeCpuMs: m.perRead.nodeCpuMsPerUnit,
  pgCpuMs: m.perRead.pgCpuMsPerUnit,
  ingestCpuMs: round(m.perResource.nodeCpuMsPerUnit + m.perResource.pgCpuMsPerUnit, 3),
  ingestNodeCpuMs: m.perResource.nodeCpuMsPerUnit,
  ingestPgCpuMs: m.perResource.pgCpuMsPerUnit,
  readPerSecond: m.read.perSecond,
  readBatchMeanEntries: m.readAuditBatches.meanEntries,
  load1m: round(loadavg()[0]!),
});
const keep = (r: number, key: Key, s: Sample) => {
  (samples[key] ??= []).push(s);
  console.error(`[overhead-ab] round ${r + 1} ${key}: ${JSON.stringify(s)}`);
};
for (let r = 0; r < rounds; r++) {
  const order = (r % 2 === 0 ? ['before', 'after'] : ['after', 'before']) as (keyof typeof builds)[];
  for (const build of order) {
    if (pairedSeconds) {
      // Both configurations at once, their timed phases started together (and the reads ended
      // together): whatever else the machine does in that window falls on both alike.
      const pair = createPairSync();
      const runs = await Promise.all(
        [on, off].map((config) =>
          measurePathCpu({ ...spec, env: { ...configs[config] }, cwd: builds[build], sync: pair.sync, readSeconds: pairedSeconds }).catch((err: unknown) => {
            pair.fail(err);
            throw err;
          }),
        ),
      );
      runs.forEach((m, i) => keep(r, `${build}/${[on, off][i]!}`, sampleOf(m)));
      continue;
    }
    for (const config of r % 2 === 0 ? [on, off] : [off, on]) {
      keep(r, `${build}/${config}`, sampleOf(await measurePathCpu({ ...spec, env: { ...configs[config] }, cwd: builds[build] })));
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const med = (key: Key, f: Field) => round(median(samples[key]!.map((s) => s[f])), 3);
// Per round too: the two configurations of one build in one round ran back to back.
const perRound = (build: keyof typeof builds, f: 'readCpuMs' | 'ingestCpuMs') => samples[`${build}/${off}`]!.map((p, i) => round(p[f] / samples[`${build}/${on}`]![i]![f], 3));
const fields: Field[] = ['readCpuMs', 'nodeCpuMs', 'pgCpuMs', 'ingestCpuMs', 'ingestNodeCpuMs', 'ingestPgCpuMs', 'readBatchMeanEntries'];
const summary = Object.fromEntries(
  (Object.keys(builds) as (keyof typeof builds)[]).map((b) => [
    b,
    {
      dir: builds[b],
      medians: Object.fromEntries([on, off].map((c) => [c, Object.fromEntries(fields.map((f) => [f, med(`${b}/${c}`, f)]))])),
      // Throughput ratio by CPU: the reference's CPU per unit over the configuration's.
      readRatio: round(med(`${b}/${off}`, 'readCpuMs') / med(`${b}/${on}`, 'readCpuMs'), 3),
      readRatioPerRound: perRound(b, 'readCpuMs'),
      ingestRatio: round(med(`${b}/${off}`, 'ingestCpuMs') / med(`${b}/${on}`, 'ingestCpuMs'), 3),
      ingestRatioPerRound: perRound(b, 'ingestCpuMs'),
    },
  ]),
);
const result = {
  benchmark: 'overhead-ab',
  at: new Date().toISOString(),
  machine: machineFacts(),
  spec: {
    patients: spec.patients,
    ...(pairedSeconds ? { paired: `both configurations at once, reads for ${pairedSeconds} s each` } : { reads: spec.reads }),
    rounds,
    readConcurrency: spec.readConcurrency,
    compare,
    configs,
    audit: auditOff ? 'off (both configurations)' : 'on',
  },
  loadAverage1m: { min: round(Math.min(...Object.values(samples).flat().map((s) => s.load1m))), max: round(Math.max(...Object.values(samples).flat().map((s) => s.load1m))) },
  target:
    compare === 'audit'
      ? 'audited reads >= 0.85 and audited ingest >= 0.90 of HAVEN_AUDIT=off (issue 3), CPU per unit (server + PostgreSQL)'
      : 'encrypted reads >= 0.90 of plain (issue 4), CPU per read (server + PostgreSQL)',
  summary,
  samples,
};
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/${arg('out') ?? `overhead-ab-${result.at.slice(0, 16).replace(/:/g, '-')}`}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 1));
console.log(`written to ${file}`);
