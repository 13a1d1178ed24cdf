/**
 * The encrypted-read overhead (bench/overhead.ts: reads by id with encryption
 * on vs HAVEN_ENCRYPTION=off, CPU per read of the server and its PostgreSQL
 * backends) of two builds of Haven in the same run: this checkout ("after")
 * and another one ("before", e.g. the base commit extracted and built in a
 * temporary directory). Builds and configurations alternate within every
 * round, and the build that goes first alternates between rounds, so machine
 * load and drift fall on all four alike.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/overhead-ab.js --before /tmp/base [--after .] [--rounds 3] [--patients 150] [--reads 15000] [--audit-off] [--out name]
 *
 * `--audit-off` runs both configurations with HAVEN_AUDIT=off: encryption's
 * own read cost (the body's envelope), without the audit entry it also seals
 * and without the group-commit batch sizes, which move with machine load and
 * made PostgreSQL's CPU per read swing by half between runs of one build.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { machineFacts } from './machine.js';
import { positiveArg } from './options.js';
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
const auditOff = process.argv.includes('--audit-off');
const audit: Record<string, string> = auditOff ? { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' } : {};
const configs = { encrypted: { ...audit }, plain: { ...audit, HAVEN_ENV: 'test', HAVEN_ENCRYPTION: 'off' } } as const;

type Key = `${keyof typeof builds}/${keyof typeof configs}`;
const samples: Record<string, { readCpuMs: number; nodeCpuMs: number; pgCpuMs: number; readPerSecond: number; ingestCpuMsPerResource: number; load1m: number }[]> = {};
for (let r = 0; r < rounds; r++) {
  const order = (r % 2 === 0 ? ['before', 'after'] : ['after', 'before']) as (keyof typeof builds)[];
  for (const build of order) {
    for (const config of (r % 2 === 0 ? ['encrypted', 'plain'] : ['plain', 'encrypted']) as (keyof typeof configs)[]) {
      const m = await measurePathCpu({ ...spec, env: { ...configs[config] }, cwd: builds[build] });
      const key: Key = `${build}/${config}`;
      const s = {
        readCpuMs: round(m.perRead.nodeCpuMsPerUnit + m.perRead.pgCpuMsPerUnit, 3),
        nodeCpuMs: m.perRead.nodeCpuMsPerUnit,
        pgCpuMs: m.perRead.pgCpuMsPerUnit,
        readPerSecond: m.read.perSecond,
        // The ingest before the reads, measured the same way: the issue's other half (ingest within 10% too).
        ingestCpuMsPerResource: round(m.perResource.nodeCpuMsPerUnit + m.perResource.pgCpuMsPerUnit, 3),
        load1m: round(loadavg()[0]!),
      };
      (samples[key] ??= []).push(s);
      console.error(`[overhead-ab] round ${r + 1} ${key}: ${JSON.stringify(s)}`);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const med = (key: Key, f: 'readCpuMs' | 'nodeCpuMs' | 'pgCpuMs' | 'ingestCpuMsPerResource') => round(median(samples[key]!.map((s) => s[f])), 3);
// Per round too: the two configurations of one build in one round ran back to back.
const perRound = (build: keyof typeof builds) => samples[`${build}/plain`]!.map((p, i) => round(p.readCpuMs / samples[`${build}/encrypted`]![i]!.readCpuMs, 3));
const summary = Object.fromEntries(
  (Object.keys(builds) as (keyof typeof builds)[]).map((b) => [
    b,
    {
      dir: builds[b],
      readCpuMsEncrypted: med(`${b}/encrypted`, 'readCpuMs'),
      readCpuMsPlain: med(`${b}/plain`, 'readCpuMs'),
      nodeCpuMsEncrypted: med(`${b}/encrypted`, 'nodeCpuMs'),
      nodeCpuMsPlain: med(`${b}/plain`, 'nodeCpuMs'),
      encryptedReadVsPlain: round(med(`${b}/plain`, 'readCpuMs') / med(`${b}/encrypted`, 'readCpuMs'), 3),
      encryptedReadVsPlainPerRound: perRound(b),
      ingestCpuMsPerResourceEncrypted: med(`${b}/encrypted`, 'ingestCpuMsPerResource'),
      ingestCpuMsPerResourcePlain: med(`${b}/plain`, 'ingestCpuMsPerResource'),
      encryptedIngestVsPlain: round(med(`${b}/plain`, 'ingestCpuMsPerResource') / med(`${b}/encrypted`, 'ingestCpuMsPerResource'), 3),
    },
  ]),
);
const result = {
  benchmark: 'overhead-ab',
  at: new Date().toISOString(),
  machine: machineFacts(),
  spec: { patients: spec.patients, reads: spec.reads, rounds, readConcurrency: spec.readConcurrency, audit: auditOff ? 'off (both configurations)' : 'on' },
  loadAverage1m: { min: round(Math.min(...Object.values(samples).flat().map((s) => s.load1m))), max: round(Math.max(...Object.values(samples).flat().map((s) => s.load1m))) },
  target: 'encrypted reads and ingest >= 0.90 of plain (issue 4), CPU per read / per ingested resource (server + PostgreSQL)',
  summary,
  samples,
};
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/${arg('out') ?? `overhead-ab-${result.at.slice(0, 16).replace(/:/g, '-')}`}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 1));
console.log(`written to ${file}`);
