/**
 * Custom SearchParameter benchmark (issue 6, proof 2): a store of N Patients
 * (a quarter with an eye-colour extension) gets a custom SearchParameter; the
 * reindex job indexes the existing data. Reports the job's rate (resources/s,
 * from its own start to completion, the 2×TTL start delay excluded), the time
 * from the SearchParameter's write until a strict search answers complete
 * results, and checks that the search finds exactly the expected resources.
 * In-process app on external PostgreSQL, encryption and audit as configured
 * by default (both on).
 *
 * CPU per resource (this process, which runs the job, plus the PostgreSQL
 * backends of the bench database) and the load average are recorded beside
 * the rate: on a shared machine the wall-clock rate moves with the neighbours.
 *
 *   node dist/bench/reindex.js [--resources 20000] [--batch 500] [--db URL]
 * Writes bench/results/reindex-<date>.json (reindex-<N>k-<date>.json when N ≠ 20,000).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { buildApp } from '../src/app/build.js';
import { loadConfig } from '../src/config/index.js';
import { DEFAULT_TENANT, silentLogger, type RequestContext } from '../src/kernel/index.js';
import { createDb } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { cpuMsOf } from './cpu-meter.js';
import { machineFacts } from './machine.js';
import { round } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const resources = Number(opt('resources', '20000'));
const batchSize = Number(opt('batch', '500'));
const serverUrl = opt('db', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const dbName = 'haven_bench_reindex';
const dataDir = '/tmp/haven-bench-reindex';
const EYE = 'http://example.org/eyecolor';
const COLORS = ['blue', 'brown', 'green', 'grey'];
const ctx: RequestContext = { tenant: DEFAULT_TENANT, requestId: 'bench-reindex', principal: { subject: 'bench', clientId: 'bench', kind: 'client', scopes: ['system/*.cruds'] } };

async function freshDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true });
  const u = new URL(serverUrl);
  u.pathname = `/${dbName}`;
  return u.toString();
}

async function load(app: ReturnType<typeof buildApp>): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < resources; i += 500) {
    const ops = Array.from({ length: Math.min(500, resources - i) }, (_, k) => {
      const n = i + k;
      const extension = n % 4 === 0 ? [{ url: EYE, valueCode: COLORS[(n / 4) % 4] }] : undefined;
      return { kind: 'create' as const, resource: { resourceType: 'Patient', name: [{ family: `Bench${n}` }], gender: n % 2 ? 'male' : 'female', ...(extension ? { extension } : {}) } };
    });
    await app.store.transaction(ctx, (tx) => tx.write(ctx, ops));
  }
  return (performance.now() - started) / 1000;
}

/**
 * CPU ms of this process (which runs the reindex job) and of the PostgreSQL
 * backends on the bench database, sampled every 200 ms: pooled connections
 * come and go during the job, so each backend's last reading is kept after it
 * exits (a backend started after `start` counts from zero).
 */
function cpuSampler(db: ReturnType<typeof createDb>): { stop(): Promise<{ nodeMs: number; pgMs: number }> } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const nodeStart = cpuMsOf(process.pid);
  let initial = true;
  const sample = async () => {
    const res = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [dbName]);
    for (const { pid } of res.rows) {
      const ms = cpuMsOf(pid);
      if (!first.has(pid)) first.set(pid, initial ? ms : 0);
      if (ms > 0) last.set(pid, ms);
    }
    initial = false;
  };
  const ready = sample();
  const timer = setInterval(() => void sample().catch(() => undefined), 200);
  return {
    async stop() {
      await ready;
      clearInterval(timer);
      await sample();
      let pgMs = 0;
      for (const [pid, ms] of last) pgMs += ms - (first.get(pid) ?? 0);
      return { nodeMs: cpuMsOf(process.pid) - nodeStart, pgMs };
    },
  };
}

async function main(): Promise<void> {
  const url = await freshDatabase();
  const db = createDb({ connectionString: url, maxConnections: 10 });
  await migrate(db);
  const config = loadConfig({ HAVEN_DATA_DIR: dataDir });
  const app = buildApp({ config, db, logger: silentLogger, baseUrl: 'http://127.0.0.1:1', tenant: DEFAULT_TENANT, ready: () => db.ping(), reindex: { batchSize } });
  await app.encryption.start();
  const loadSeconds = await load(app);
  console.error(`loaded ${resources} in ${round(loadSeconds, 1)} s`);
  // What the server's maintenance does after a bulk load: fresh statistics, or the planner guesses on empty tables.
  await db.query('ANALYZE');
  const cpu = cpuSampler(db);
  const loadBefore = os.loadavg()[0] ?? 0;
  app.reindex.start();
  const posted = performance.now();
  await app.store.write(ctx, {
    kind: 'create',
    resource: {
      resourceType: 'SearchParameter', url: 'http://example.org/fhir/SearchParameter/patient-eyecolor', name: 'eyecolor', status: 'active',
      description: 'Eye colour', code: 'eyecolor', base: ['Patient'], type: 'token', expression: `Patient.extension.where(url='${EYE}').value`,
    },
  });
  const job = await db.query<{ job_id: string }>('SELECT job_id FROM reindex_job ORDER BY created_at DESC LIMIT 1');
  const jobId = job.rows[0]!.job_id;
  let page;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      page = await app.deps.searcher.search(ctx, app.store, 'Patient', [['eyecolor', 'blue'], ['_total', 'accurate'], ['_count', '10']], { strict: true });
      break;
    } catch (err) {
      if ((err as { code?: string }).code !== 'SEARCH_PARAM_REINDEXING') throw err;
      if (process.env['BENCH_DEBUG']) console.error((err as Error).message);
    }
  }
  const searchableSeconds = (performance.now() - posted) / 1000;
  console.error(`searchable after ${round(searchableSeconds, 1)} s`);
  const status = await app.reindex.status(ctx, jobId);
  const used = await cpu.stop();
  const cpuPerResource = (k: 'nodeMs' | 'pgMs') => round(used[k] / Math.max(1, status.processed), 3);
  const jobSeconds = (status.finishedAt!.getTime() - status.notBefore.getTime()) / 1000;
  const expectedBlue = Array.from({ length: resources }, (_, n) => n).filter((n) => n % 4 === 0 && (n / 4) % 4 === 0).length;
  const result = {
    benchmark: 'reindex',
    date: new Date().toISOString(),
    machine: machineFacts(),
    setup: { resources, batchSize, workers: 1, encryption: app.encryption.codec ? 'on' : 'off', audit: config.audit.enabled ? 'on' : 'off', database: 'external PostgreSQL (shared machine)' },
    loadSeconds: round(loadSeconds, 2),
    job: { processed: status.processed, total: status.total, seconds: round(jobSeconds, 2), resourcesPerSecond: Math.round(status.processed / jobSeconds) },
    cpuMsPerResource: { node: cpuPerResource('nodeMs'), postgres: cpuPerResource('pgMs'), note: 'from the SearchParameter write to searchable: job, polling searches and the start delay' },
    loadAverage1m: { before: round(loadBefore, 2), after: round(os.loadavg()[0] ?? 0, 2) },
    searchableAfterSeconds: round(searchableSeconds, 2),
    startDelaySeconds: round((status.notBefore.getTime() - status.createdAt.getTime()) / 1000, 2),
    search: { total: page.total, expected: expectedBlue, correct: page.total === expectedBlue },
  };
  console.log(JSON.stringify(result, null, 2));
  await app.reindex.stop();
  await app.http.close();
  await db.close();
  const label = resources === 20_000 ? '' : `${Math.round(resources / 1000)}k-`;
  const file = `bench/results/reindex-${label}${result.date.slice(0, 10)}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  if (!result.search.correct) {
    console.error(`search found ${page.total}, expected ${expectedBlue}`);
    process.exitCode = 1;
  }
}

await main();
