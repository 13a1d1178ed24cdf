/**
 * A V8 memory setting of the server, A/B: for each variant (a set of `node`
 * options for the server process, or none), a fresh server and database
 * ingest synthetic patients and then serve reads by id at c16, as `npm run
 * bench` does; the variants alternate within each round. Per run: peak RSS
 * during the ingest and during the reads, and the server's own CPU (all
 * threads, from /proc) per ingested resource and per read.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/server-heap-ab.js \
 *     --variants "default;--max-semi-space-size=32" [--cwd DIR] [--patients 1000] [--read-seconds 12] [--rounds 3] [--out name]
 *
 * `default` is the server as it ships. The server applies its own settings at
 * start (src/app/runtime-tuning.ts) after the command line, so a variant of a
 * setting it already makes must run a build without it (`--cwd`, another
 * checkout built beside this one).
 */
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import pg from 'pg';
import { cpuMsOf } from './cpu-meter.js';
import { createHttpClient, runLoad } from './http-load.js';
import { emptyDrawn, runIngest } from './ingest.js';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { createTokenHolder, sampleRss, startServerChild } from './server-process.js';
import { median, round } from './stats.js';

const adminUrl = process.env.DATABASE_URL;
if (!adminUrl) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
const variants = (stringArg('variants') ?? '').split(';').map((v) => v.trim()).filter(Boolean);
if (variants.length < 2) throw new Error('--variants: two or more, separated by ";" ("default" is no extra option)');
const cwd = resolve(stringArg('cwd') ?? '.');
const patients = positiveArg('patients', 1000);
const readSeconds = positiveArg('read-seconds', 12);
const rounds = positiveArg('rounds', 3);
const database = 'haven_server_heap_ab';
const dataDir = '/tmp/haven-server-heap-ab';

interface Run {
  variant: string;
  round: number;
  ingestResourcesPerSecond: number;
  ingestNodeCpuUsPerResource: number;
  ingestPeakRssMb: number;
  readsPerSecond: number;
  readP99Ms: number;
  readNodeCpuUsPerRead: number;
  readPeakRssMb: number;
}

function databaseUrl(name: string): string {
  const u = new URL(adminUrl!);
  u.pathname = `/${name}`;
  return u.toString();
}

async function once(variant: string, roundNo: number): Promise<Run> {
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${database}`);
  await admin.query(`CREATE DATABASE ${database} TEMPLATE template0 LOCALE 'C'`);
  rmSync(dataDir, { recursive: true, force: true });
  const nodeArgs = variant === 'default' ? [] : variant.split(/\s+/);
  const server = await startServerChild({ dataDir, port: 18492, databaseUrl: databaseUrl(database), nodeArgs, cwd });
  try {
    const tokens = await createTokenHolder(server.baseUrl, dataDir);
    const client = createHttpClient(server.baseUrl, tokens.get, 16);
    const drawn = emptyDrawn();
    let rss = sampleRss(server.pid);
    let cpu = cpuMsOf(server.pid);
    const ingest = await runIngest(client, { seed: 7, patients, measurePatients: Math.min(600, patients), concurrencies: [4], log: () => undefined }, drawn);
    const ingestCpu = cpuMsOf(server.pid) - cpu;
    const ingestRss = rss.stop();
    await tokens.renew();
    const ids = [...drawn.patientIds.map((id) => `/fhir/Patient/${id}`), ...drawn.observationIds.map((id) => `/fhir/Observation/${id}`)];
    rss = sampleRss(server.pid);
    cpu = cpuMsOf(server.pid);
    const load = await runLoad({ client, concurrency: 16, seconds: readSeconds, maxRequests: 5_000_000, path: () => ids[Math.floor(Math.random() * ids.length)]! });
    const readCpu = cpuMsOf(server.pid) - cpu;
    const readRss = rss.stop();
    if (ingest.errors + load.errors > 0) throw new Error(`${variant}: ${ingest.errors} ingest and ${load.errors} read errors`);
    return {
      variant,
      round: roundNo,
      ingestResourcesPerSecond: round(ingest.totalResources / ingest.totalSeconds, 0),
      ingestNodeCpuUsPerResource: round((ingestCpu * 1000) / ingest.totalResources, 0),
      ingestPeakRssMb: ingestRss.maxMb,
      readsPerSecond: load.perSecond,
      readP99Ms: load.latency.p99Ms,
      readNodeCpuUsPerRead: round((readCpu * 1000) / load.requests, 0),
      readPeakRssMb: readRss.maxMb,
    };
  } finally {
    await server.stop();
    await admin.query(`DROP DATABASE IF EXISTS ${database}`);
    await admin.end();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const runs: Run[] = [];
const load: number[] = [];
for (let r = 1; r <= rounds; r++) {
  // Which variant goes first rotates between rounds, so drift falls on all alike.
  const order = variants.map((_, i) => variants[(i + r - 1) % variants.length]!);
  for (const variant of order) {
    load.push(loadavg()[0]!);
    const run = await once(variant, r);
    runs.push(run);
    console.log(JSON.stringify(run));
  }
}
const figures = ['ingestResourcesPerSecond', 'ingestNodeCpuUsPerResource', 'ingestPeakRssMb', 'readsPerSecond', 'readP99Ms', 'readNodeCpuUsPerRead', 'readPeakRssMb'] as const;
const medians = Object.fromEntries(
  variants.map((v) => [v, Object.fromEntries(figures.map((f) => [f, median(runs.filter((r) => r.variant === v).map((r) => r[f]))]))]),
);
const result = {
  benchmark: 'server-heap-ab',
  at: new Date().toISOString(),
  machine: machineFacts(),
  spec: { variants, cwd, patients, readSeconds, rounds },
  loadAverage1m: { min: round(Math.min(...load), 2), max: round(Math.max(...load), 2) },
  medians,
  runs,
};
const out = stringArg('out');
if (out) {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(`bench/results/${out}.json`, `${JSON.stringify(result, null, 1)}\n`);
}
console.log(JSON.stringify({ medians }, null, 1));
