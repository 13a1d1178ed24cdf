/**
 * What the audit log (issue 3) and encryption with blind indexes (issue 4)
 * cost on the write and read paths: the same ingest + read-by-id measurement
 * (bench/path-cpu.ts) with everything on, and with each switched off through
 * the test-only switches (HAVEN_ENV=test HAVEN_AUDIT=off / HAVEN_ENCRYPTION=off).
 * Configurations run alternately for `--rounds` rounds so machine load falls
 * on all of them alike; the figure compared is CPU per unit (server + its
 * PostgreSQL backends), which on a CPU-bound 2-core machine sets throughput,
 * and which a shared machine disturbs far less than wall-clock rates.
 *
 * Beside the CPU ratios it reports the rate ratios: a read waits for its
 * audit batch's commit (an fsync), so at low concurrency the audited read
 * rate is bounded by commit latency rather than CPU; `--read-concurrency`
 * shows how the rate ratio moves as more readers share each commit.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/overhead.js [--patients 150] [--reads 15000] [--rounds 3] [--read-concurrency 16]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { machineFacts } from './machine.js';
import { positiveArg } from './options.js';
import { measurePathCpu } from './path-cpu.js';
import { round } from './stats.js';

const CONFIGS: Record<string, Record<string, string>> = {
  default: {},
  'audit-off': { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' },
  'encryption-off': { HAVEN_ENV: 'test', HAVEN_ENCRYPTION: 'off' },
};

interface Sample {
  ingestCpuMs: number;
  readCpuMs: number;
  ingestPerSecond: number;
  readPerSecond: number;
  readP99Ms: number;
  /** Mean read entries per group-commit batch (audited configurations; 0 with the audit off). */
  readEntriesPerBatch: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function summarise(samples: Sample[]) {
  return {
    ingestCpuMsPerResource: round(median(samples.map((s) => s.ingestCpuMs)), 3),
    readCpuMsPerRead: round(median(samples.map((s) => s.readCpuMs)), 3),
    ingestPerSecond: round(median(samples.map((s) => s.ingestPerSecond)), 1),
    readPerSecond: round(median(samples.map((s) => s.readPerSecond)), 1),
    samples,
  };
}

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
const spec = { adminUrl, patients: positiveArg('patients', 150), concurrency: 3, reads: positiveArg('reads', 15000), readConcurrency: positiveArg('read-concurrency', 16) };
const rounds = positiveArg('rounds', 3);
const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(CONFIGS).map((k) => [k, []]));
const loads: number[] = [];
for (let r = 0; r < rounds; r++) {
  for (const [name, env] of Object.entries(CONFIGS)) {
    const m = await measurePathCpu({ ...spec, env });
    const sample = {
      ingestCpuMs: round(m.perResource.nodeCpuMsPerUnit + m.perResource.pgCpuMsPerUnit, 3),
      readCpuMs: round(m.perRead.nodeCpuMsPerUnit + m.perRead.pgCpuMsPerUnit, 3),
      ingestPerSecond: m.ingest.resourcesPerSecond,
      readPerSecond: m.read.perSecond,
      readP99Ms: m.read.latency.p99Ms,
      readEntriesPerBatch: m.readAuditBatches.meanEntries,
    };
    samples[name]!.push(sample);
    loads.push(loadavg()[0]!);
    console.error(`[overhead] round ${r + 1} ${name}: ${JSON.stringify(sample)}`);
  }
}
const byConfig = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarise(v)]));
const on = byConfig.default!;
// Throughput of a CPU-bound path scales with 1 / CPU per unit: "audited reads reach X of unaudited".
const ratio = (off: ReturnType<typeof summarise>, key: 'ingestCpuMsPerResource' | 'readCpuMsPerRead') => round(off[key] / on[key], 3);
const rateRatio = (off: ReturnType<typeof summarise>, key: 'ingestPerSecond' | 'readPerSecond') => round(on[key] / off[key], 3);
const result = {
  benchmark: 'overhead',
  at: new Date().toISOString(),
  machine: machineFacts(),
  spec: { patients: spec.patients, reads: spec.reads, rounds, ingestConcurrency: spec.concurrency, readConcurrency: spec.readConcurrency },
  loadAverage1m: { min: round(Math.min(...loads)), max: round(Math.max(...loads)) },
  byConfig,
  ratios: {
    auditedIngestVsUnaudited: { value: ratio(byConfig['audit-off']!, 'ingestCpuMsPerResource'), target: '>= 0.90 (issue 3)' },
    auditedReadVsUnaudited: { value: ratio(byConfig['audit-off']!, 'readCpuMsPerRead'), target: '>= 0.85 (issue 3)' },
    encryptedIngestVsPlain: { value: ratio(byConfig['encryption-off']!, 'ingestCpuMsPerResource'), target: '>= 0.90 (issue 4)' },
    encryptedReadVsPlain: { value: ratio(byConfig['encryption-off']!, 'readCpuMsPerRead'), target: '>= 0.90 (issue 4)' },
  },
  rateRatios: {
    auditedIngestVsUnaudited: rateRatio(byConfig['audit-off']!, 'ingestPerSecond'),
    auditedReadVsUnaudited: rateRatio(byConfig['audit-off']!, 'readPerSecond'),
    encryptedIngestVsPlain: rateRatio(byConfig['encryption-off']!, 'ingestPerSecond'),
    encryptedReadVsPlain: rateRatio(byConfig['encryption-off']!, 'readPerSecond'),
  },
};
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/overhead-${result.at.slice(0, 16).replace(/:/g, '-')}${spec.readConcurrency === 16 ? '' : `-c${spec.readConcurrency}`}.json`;
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify({ cpu: result.ratios, rate: result.rateRatios }, null, 1));
console.log(`written to ${file}`);
