/**
 * Bulk export benchmark: a system-level $export of the whole store, end to
 * end (kick-off → query, decrypt, serialise, encrypt to blob → manifest), on
 * external PostgreSQL with encryption and audit on. Reports resources/s, the
 * server's RSS growth during the export, download throughput (decrypt +
 * send), and the ratio to a plain `COPY (SELECT …) TO STDOUT` of the same rows.
 *
 *   node dist/bench/bulk-export.js [--patients 2000] [--reuse] [--db URL]
 *
 * --db-name/--data-dir/--port name the store (default haven_bench_bulk); --load-only
 * loads it and stops; --server-cwd runs another build's server (A/B); --out names
 * the result file (without .json); --once runs the export once (no second run, no download);
 * --mem-trace has the server sample its heap spaces and Buffers, and breaks the RSS growth down.
 *
 * --reuse keeps the database and data dir of an earlier run (no load), so the
 * run itself stays well under a minute.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createFhirClient, readBootstrap } from '../src/cli/client.js';
import { runSynth } from '../src/cli/synth.js';
import { createCpuMeter } from './cpu-meter.js';
import { machineFacts } from './machine.js';
import { memoryBreakdown } from './mem-breakdown.js';
import { createTokenHolder, rssMb, sampleRss, startServerChild } from './server-process.js';
import { round } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const patients = Number(opt('patients', '2000'));
const reuse = args.includes('--reuse');
const serverUrl = opt('db', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
// --db-name/--data-dir let a large store (e.g. 1M resources, loaded once for an hour) live beside the default one.
const dbName = opt('db-name', 'haven_bench_bulk');
const loadOnly = args.includes('--load-only');
const dbUrl = (() => {
  const u = new URL(serverUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
})();
const dataDir = opt('data-dir', '/tmp/haven-bench-bulk');

async function prepareDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName])).rowCount === 1;
  if (!reuse || !exists) {
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${dbName}`);
    rmSync(dataDir, { recursive: true, force: true });
  }
  await admin.end();
  mkdirSync(dataDir, { recursive: true });
}

async function json(url: string, token: string, init: RequestInit = {}) {
  const res = await fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

/** Kick-off to manifest, polling as told; RSS sampled throughout. */
async function runExport(baseUrl: string, token: string, pid: number, query = '') {
  const startedAt = Date.now();
  const rssBefore = rssMb(pid);
  const rss = sampleRss(pid, 100);
  const started = performance.now();
  const k = await json(`${baseUrl}/fhir/$export${query}`, token, { headers: { prefer: 'respond-async', accept: 'application/fhir+json' } });
  if (k.status !== 202) throw new Error(`kick-off answered ${k.status}`);
  const statusUrl = k.headers.get('content-location')!;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const s = await json(statusUrl, token);
    if (s.status === 200) {
      const seconds = (performance.now() - started) / 1000;
      const memory = rss.stop();
      const manifest = s.body as { output: { url: string; count: number }[] };
      return { seconds, manifest, rssBeforeMb: rssBefore, rssMaxMb: memory.maxMb, startedAt, endedAt: Date.now() };
    }
    if (s.status !== 202 && s.status !== 429) throw new Error(`status answered ${s.status}`);
  }
}

async function download(manifest: { output: { url: string; count: number }[] }, token: string) {
  const started = performance.now();
  let bytes = 0;
  let lines = 0;
  for (const o of manifest.output) {
    const res = await fetch(o.url, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    bytes += Buffer.byteLength(text);
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds: round(seconds), resources: lines, megabytes: round(bytes / 2 ** 20, 1), resourcesPerSecond: round(lines / seconds, 0) };
}

/** The floor: PostgreSQL streaming the same rows' stored bytes (ciphertext, not decrypted) through COPY to psql. */
function copyBaseline(rows: number) {
  const started = performance.now();
  execFileSync('psql', [dbUrl, '-q', '-c', "COPY (SELECT resource_type, id, content FROM resource WHERE tenant_id = 'default' AND NOT deleted) TO STDOUT"], {
    stdio: ['ignore', 'ignore', 'inherit'],
    maxBuffer: 1 << 30,
  });
  const seconds = (performance.now() - started) / 1000;
  return { seconds: round(seconds), rows, rowsPerSecond: round(rows / seconds, 0) };
}

async function main(): Promise<void> {
  const loadAverageStart = os.loadavg().map((l) => round(l, 2));
  await prepareDatabase();
  process.env.HAVEN_BULK_MAX_FILE_RESOURCES ??= '10000';
  process.env.HAVEN_BULK_WORKERS ??= '2';
  const cpuProf = args.includes('--cpu-prof') ? join('bench', 'results', 'prof') : undefined;
  // --server-cwd: run another build's server (e.g. the base commit's) on the same data, for A/B runs.
  const serverCwd = opt('server-cwd', '');
  // --mem-trace: the server samples its own memory (heap spaces, Buffers) so the RSS growth can be broken down.
  const memTrace = args.includes('--mem-trace') ? join(dataDir, 'mem-trace.jsonl') : undefined;
  const server = await startServerChild({ ...(memTrace ? { memTrace } : {}), dataDir, port: Number(opt('port', '18491')), databaseUrl: dbUrl, ...(cpuProf ? { cpuProfDir: cpuProf } : {}), ...(serverCwd ? { cwd: serverCwd } : {}) });
  try {
    const db = new pg.Client({ connectionString: dbUrl });
    await db.connect();
    const count = async () => Number((await db.query("SELECT count(*) AS n FROM resource WHERE tenant_id = 'default' AND NOT deleted")).rows[0].n);
    let loadSeconds = 0;
    if ((await count()) === 0) {
      const t = performance.now();
      await runSynth(createFhirClient(server.baseUrl, await readBootstrap(dataDir)), { patients, seed: 1, concurrency: 3 });
      loadSeconds = (performance.now() - t) / 1000;
      await db.query('ANALYZE');
    }
    const resources = await count();
    if (loadOnly) {
      await db.end();
      console.log(JSON.stringify({ loaded: resources, loadSeconds: round(loadSeconds) }));
      return;
    }
    const tokens = await createTokenHolder(server.baseUrl, dataDir);
    // Warm-up: a small export first, so the figure is the export's own growth, not start-up's (JIT, keys, pools).
    const warm = await runExport(server.baseUrl, tokens.get(), server.pid, '?_type=Patient');
    // CPU of the export itself: the server process and the database's backends (/proc), which the load of
    // the shared machine does not move the way it moves wall-clock rates.
    const meter = await createCpuMeter(server.pid, dbUrl, undefined);
    const cpuBefore = await meter.snapshot();
    const nodeCpuBefore = process.cpuUsage();
    const exp = await runExport(server.baseUrl, tokens.get(), server.pid);
    const cpuAfter = await meter.snapshot();
    const harnessCpuMs = (process.cpuUsage(nodeCpuBefore).user + process.cpuUsage(nodeCpuBefore).system) / 1000;
    await meter.close();
    // The same export again: if memory is bounded per task (not per export), its peak matches the first's.
    // --once: the first export only (an A/B round on a large store), no second run nor download.
    const once = args.includes('--once');
    const again = once ? undefined : await runExport(server.baseUrl, tokens.get(), server.pid);
    const exported = exp.manifest.output.reduce((a, o) => a + o.count, 0);
    const dl = once ? undefined : await download(exp.manifest, tokens.get());
    const copy = copyBaseline(resources);
    await db.end();
    const perSecond = round(exported / exp.seconds, 0);
    const result = {
      benchmark: 'bulk-export',
      date: new Date().toISOString(),
      machine: { ...machineFacts(), nproc: os.cpus().length, loadAverageStart, loadAverageEnd: os.loadavg().map((l) => round(l, 2)) },
      setup: { database: 'external PostgreSQL', encryption: 'on (local KMS)', audit: 'on', workers: Number(process.env.HAVEN_BULK_WORKERS), maxFileResources: Number(process.env.HAVEN_BULK_MAX_FILE_RESOURCES), loadSeconds: round(loadSeconds) },
      export: {
        resources: exported,
        storeResources: resources,
        files: exp.manifest.output.length,
        seconds: round(exp.seconds),
        resourcesPerSecond: perSecond,
        rssBeforeMb: exp.rssBeforeMb,
        rssMaxMb: exp.rssMaxMb,
        rssGrowthMb: round(exp.rssMaxMb - exp.rssBeforeMb, 1),
        ...(memTrace ? { memory: memoryBreakdown(memTrace, exp.startedAt, exp.endedAt) } : {}),
        cpu: {
          serverMs: cpuAfter.nodeMs - cpuBefore.nodeMs,
          postgresMs: cpuAfter.pgMs - cpuBefore.pgMs,
          serverMsPer1000Resources: round((1000 * (cpuAfter.nodeMs - cpuBefore.nodeMs)) / exported, 2),
          postgresMsPer1000Resources: round((1000 * (cpuAfter.pgMs - cpuBefore.pgMs)) / exported, 2),
          harnessMs: round(harnessCpuMs, 0),
          note: 'server: utime+stime of the haven process; postgres: CPU of the database backends accumulated per backend between the snapshots (/proc)',
        },
        warmUp: { query: '_type=Patient', seconds: round(warm.seconds), rssBeforeMb: warm.rssBeforeMb, rssMaxMb: warm.rssMaxMb },
        ...(again ? { secondRun: { seconds: round(again.seconds), resourcesPerSecond: round(exported / again.seconds, 0), rssBeforeMb: again.rssBeforeMb, rssMaxMb: again.rssMaxMb, ...(memTrace ? { memory: memoryBreakdown(memTrace, again.startedAt, again.endedAt) } : {}) } } : {}),
      },
      download: dl,
      copyToStdout: copy,
      ratioToCopy: round(perSecond / copy.rowsPerSecond, 3),
      targets: { resourcesPerSecond: 20000, rssGrowthMb: 100 },
    };
    const file = join('bench', 'results', `${opt('out', `bulk-export-${patients}p-${result.date.slice(0, 10)}`)}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify({ export: result.export, download: dl, copy, ratioToCopy: result.ratioToCopy }, null, 2));
    console.log(`written ${file}`);
  } finally {
    await server.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
