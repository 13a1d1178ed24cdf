/**
 * CPU per batch Bundle of searches, A/B: two Haven builds served in turn on
 * ONE store (external PostgreSQL), A B, B A, … Each Bundle holds `--entries`
 * search entries `Observation?patient=…&_include=Observation:subject`, each
 * for another synthetic patient; closed loop at `--concurrency`. Per turn:
 * Bundles/s, p50/p95, Node and PostgreSQL backend CPU per Bundle (/proc),
 * statements per Bundle (bench/pg-count.ts), and the audit entries and
 * audit batches (group commits) per Bundle, counted in audit_batch.
 *
 *   node dist/bench/bundle-search-cpu.js --data-dir /tmp/bundleaud-bench \
 *     --database-url postgres://postgres@127.0.0.1:5432/bundleaud_bench \
 *     --build base=/tmp/base-c08 --build new=. [--patients 300] [--entries 5] [--rounds 4] [--seconds 15]
 *
 * The store is loaded (haven synth's generator, posted as transaction Bundles
 * by the first build) when it holds no Patient yet.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { synthesize } from '../src/synth/index.js';
import { createCpuMeter, perUnit } from './cpu-meter.js';
import { createHttpClient, type HttpClient } from './http-load.js';
import { machineFacts } from './machine.js';
import { requiredArg } from './options.js';
import { createTokenHolder, startServerChild } from './server-process.js';
import { createSamples, median, round } from './stats.js';

const median3 = (values: number[]) => median(values, 3);

const args = process.argv.slice(2);
const opt = (name: string, fallback?: string): string => requiredArg(name, fallback, args);
const builds = args.flatMap((a, i) => (a === '--build' ? [args[i + 1]!] : [])).map((b) => ({ name: b.slice(0, b.indexOf('=')), dir: resolve(b.slice(b.indexOf('=') + 1)) }));
if (builds.length === 0) throw new Error('at least one --build name=DIR');
const dataDir = resolve(opt('data-dir'));
const databaseUrl = opt('database-url');
const patients = Number(opt('patients', '300'));
const entries = Number(opt('entries', '5'));
const rounds = Number(opt('rounds', '4'));
const seconds = Number(opt('seconds', '15'));
const warmup = Number(opt('warmup', '4'));
const concurrency = Number(opt('concurrency', '8'));
const port = Number(opt('port', '18622'));
const out = opt('out', `bench/results/bundle-search-cpu-${new Date().toISOString().slice(0, 10)}.json`);
const log = (m: string) => console.log(`[bundle-search-cpu ${new Date().toISOString().slice(11, 19)}] ${m}`);
const load = () => os.loadavg().map((v) => round(v));

function bundleFor(ids: string[], i: number): string {
  const entry = Array.from({ length: entries }, (_, k) => ({
    request: { method: 'GET', url: `Observation?patient=Patient/${ids[(i * entries + k) % ids.length]}&_include=Observation:subject&_count=20` },
  }));
  return JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry });
}

async function loadStore(client: HttpClient): Promise<void> {
  const bundles = synthesize({ patients, seed: 42 });
  const worker = async () => {
    for (let next = bundles.next(); !next.done; next = bundles.next()) {
      const res = await client.request('POST', '/fhir', JSON.stringify(next.value));
      if (res.status !== 200) throw new Error(`load: ${res.status} ${res.body.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

async function patientIds(client: HttpClient): Promise<string[]> {
  const res = await client.request('GET', `/fhir/Patient?_count=${patients}&_elements=id`);
  const body = JSON.parse(res.body) as { entry?: { resource: { id: string } }[] };
  return (body.entry ?? []).map((e) => e.resource.id);
}

async function auditCounts(db: pg.Client): Promise<{ batches: number; entries: number }> {
  const r = await db.query<{ b: string; e: string }>('SELECT count(*) AS b, coalesce(sum(cardinality(entries)), 0) AS e FROM audit_batch');
  return { batches: Number(r.rows[0]!.b), entries: Number(r.rows[0]!.e) };
}

async function drive(client: HttpClient, ids: string[], s: number, offset: number) {
  const samples = createSamples();
  let issued = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + s * 1000;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t = performance.now();
      const res = await client.request('POST', '/fhir', bundleFor(ids, offset + issued++));
      samples.add(performance.now() - t);
      const bad = res.status !== 200 || (JSON.parse(res.body) as { entry: { response: { status: string } }[] }).entry.some((e) => e.response.status !== '200 OK');
      if (bad) {
        errors++;
        firstError ??= `${res.status} ${res.body.slice(0, 200)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const latency = samples.summary();
  return { requests: latency.count, errors, ...(firstError ? { firstError } : {}), perSecond: round(latency.count / ((performance.now() - started) / 1000), 1), p50Ms: latency.p50Ms, p95Ms: latency.p95Ms };
}

async function turn(build: (typeof builds)[number], roundNo: number, db: pg.Client, ids: () => Promise<string[]>) {
  const countFile = join(dataDir, `pg-count-${build.name}.txt`);
  const server = await startServerChild({
    dataDir,
    port,
    databaseUrl,
    cwd: build.dir,
    env: { NODE_OPTIONS: `--import ${join(build.dir, 'dist/bench/pg-count.js')}`, BENCH_PG_COUNT_FILE: countFile },
  });
  const tokens = await createTokenHolder(server.baseUrl, dataDir);
  const client = createHttpClient(server.baseUrl, tokens.get, concurrency);
  const meter = await createCpuMeter(server.pid, databaseUrl, countFile);
  const loadAverageStart = load();
  try {
    const list = await ids();
    await drive(client, list, warmup, 100_000);
    const before = await meter.snapshot();
    const auditBefore = await auditCounts(db);
    const r = await drive(client, list, seconds, 0);
    const after = await meter.snapshot();
    const auditAfter = await auditCounts(db);
    const n = Math.max(1, r.requests);
    const cpu = perUnit(before, after, n);
    const t = {
      build: build.name,
      round: roundNo,
      loadAverageStart,
      loadAverageEnd: load(),
      ...r,
      cpu,
      cpuMsPerBundle: round(cpu.nodeCpuMsPerUnit + cpu.pgCpuMsPerUnit, 3),
      auditEntriesPerBundle: round((auditAfter.entries - auditBefore.entries) / n, 3),
      auditBatchesPerBundle: round((auditAfter.batches - auditBefore.batches) / n, 3),
    };
    log(`${build.name} round ${roundNo}: ${r.perSecond}/s p95 ${r.p95Ms} ms, CPU/Bundle ${t.cpuMsPerBundle} ms (node ${cpu.nodeCpuMsPerUnit}, pg ${cpu.pgCpuMsPerUnit}), ${cpu.statementsPerUnit} statements, audit ${t.auditEntriesPerBundle} entries / ${t.auditBatchesPerBundle} batches, ${r.errors} errors, load ${loadAverageStart[0]}→${t.loadAverageEnd[0]}`);
    return t;
  } finally {
    await meter.close();
    client.close();
    await server.stop();
  }
}


async function main(): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const loadStart = load();
  let cached: string[] | undefined;
  const ids = async () => cached ?? [];
  try {
    // Load once (first build), and read the patient ids the Bundles search for.
    const first = builds[0]!;
    const server = await startServerChild({ dataDir, port, databaseUrl, cwd: first.dir });
    try {
      const tokens = await createTokenHolder(server.baseUrl, dataDir);
      const client = createHttpClient(server.baseUrl, tokens.get, 4);
      if ((await patientIds(client)).length === 0) {
        log(`loading ${patients} synthetic patients`);
        await loadStore(client);
      }
      cached = await patientIds(client);
      // Planner statistics of the loaded tables (the shared server may run without autovacuum).
      await db.query('ANALYZE');
      client.close();
    } finally {
      await server.stop();
    }
    log(`${cached.length} patients; ${entries} search entries per Bundle, c${concurrency}`);
    const turns: Awaited<ReturnType<typeof turn>>[] = [];
    for (let r = 1; r <= rounds; r++) {
      const order = r % 2 === 1 ? builds : [...builds].reverse();
      for (const b of order) turns.push(await turn(b, r, db, ids));
    }
    const summary = builds.map((b) => {
      const mine = turns.filter((t) => t.build === b.name);
      return {
        build: b.name,
        dir: b.dir,
        turns: mine.length,
        cpuMsPerBundleMedian: median3(mine.map((t) => t.cpuMsPerBundle)),
        nodeCpuMsPerBundleMedian: median3(mine.map((t) => t.cpu.nodeCpuMsPerUnit)),
        pgCpuMsPerBundleMedian: median3(mine.map((t) => t.cpu.pgCpuMsPerUnit)),
        statementsPerBundleMedian: median3(mine.map((t) => t.cpu.statementsPerUnit)),
        auditEntriesPerBundleMedian: median3(mine.map((t) => t.auditEntriesPerBundle)),
        auditBatchesPerBundleMedian: median3(mine.map((t) => t.auditBatchesPerBundle)),
        perSecondMedian: median3(mine.map((t) => t.perSecond)),
        p95MsMedian: median3(mine.map((t) => t.p95Ms)),
      };
    });
    const result = {
      benchmark: 'bundle-search-cpu',
      date: new Date().toISOString(),
      machine: { ...machineFacts(), nproc: os.cpus().length, loadAverageStart: loadStart, loadAverageEnd: load() },
      store: { patients: cached.length, seed: 42, databaseUrl: databaseUrl.replace(/\/\/[^@]*@/, '//') },
      bundle: { type: 'batch', entries, example: JSON.parse(bundleFor(cached, 0)) as unknown },
      concurrency,
      seconds,
      warmupSeconds: warmup,
      summary,
      turns,
    };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
    for (const s of summary) log(`${s.build}: ${s.cpuMsPerBundleMedian} ms CPU/Bundle (node ${s.nodeCpuMsPerBundleMedian}, pg ${s.pgCpuMsPerBundleMedian}), ${s.statementsPerBundleMedian} statements, ${s.auditEntriesPerBundleMedian} audit entries, ${s.auditBatchesPerBundleMedian} batches per Bundle`);
    log(`wrote ${out}`);
  } finally {
    await db.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
