/**
 * $import against core ingest, same machine, same minutes: synthetic patients
 * are ingested as transaction Bundles (the core path) into a fresh database,
 * exported, and the NDJSON served by a local HTTP server; then a second fresh
 * database is filled by `$import` pulling those files (creates), and the same
 * import is run again (updates of every resource). Reports resources/s and the
 * server's and PostgreSQL backends' CPU per resource for each, with the load
 * average. External PostgreSQL, encryption and audit on.
 *
 *   node dist/bench/bulk-import.js [--patients 400] [--workers 3] [--db URL] [--cpu-prof]
 *
 * --cpu-prof profiles the importing server (bench/results/prof, see bench/profile-summary.ts).
 */
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { freshDatabase } from './pg-admin.js';
import { createFhirClient, readBootstrap } from '../src/cli/client.js';
import { runSynth } from '../src/cli/synth.js';
import { createCpuMeter, perUnit, type CpuMeter } from './cpu-meter.js';
import { machineFacts } from './machine.js';
import { positiveArg } from './options.js';
import { createTokenHolder, startServerChild, type ServerChild } from './server-process.js';
import { round } from './stats.js';

const args = process.argv.slice(2);
const dbArg = args.indexOf('--db');
const serverUrl = dbArg >= 0 ? args[dbArg + 1]! : (process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const patients = positiveArg('patients', 400);
// Import tasks run at once; 3 matches the ingest's 3 concurrent clients.
const workers = positiveArg('workers', 3);
const load1 = () => round(os.loadavg()[0]!, 2);


/** Serves the exported NDJSON files, as another organisation's server would. */
async function ndjsonServer(files: Map<string, string>): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const body = files.get(req.url ?? '');
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/fhir+ndjson' });
    res.end(body ?? '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function call(url: string, token: string, init: RequestInit = {}) {
  const res = await fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(init.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as { output: { url: string; type: string; count: number }[]; error: unknown[] }) : undefined };
}

/** Kick-off (GET $export or POST $import) to manifest. */
async function runJob(server: ServerChild, token: string, path: string, body?: unknown) {
  const init: RequestInit = body === undefined ? { headers: { prefer: 'respond-async' } } : { method: 'POST', body: JSON.stringify(body), headers: { prefer: 'respond-async', 'content-type': 'application/fhir+json' } };
  const k = await call(`${server.baseUrl}/fhir/${path}`, token, init);
  if (k.status !== 202) throw new Error(`${path} kick-off answered ${k.status}`);
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const s = await call(k.headers.get('content-location')!, token);
    if (s.status === 200) return s.body!;
    if (s.status !== 202 && s.status !== 429) throw new Error(`status answered ${s.status}`);
  }
}

async function measured<T>(meter: CpuMeter, work: () => Promise<T>, units: (t: T) => number) {
  const before = await meter.snapshot();
  const loadBefore = load1();
  const t = performance.now();
  const out = await work();
  const seconds = (performance.now() - t) / 1000;
  const after = await meter.snapshot();
  const n = units(out);
  const cpu = perUnit(before, after, n);
  return { out, figures: { resources: n, seconds: round(seconds), resourcesPerSecond: round(n / seconds, 0), serverCpuMsPerResource: cpu.nodeCpuMsPerUnit, postgresCpuMsPerResource: cpu.pgCpuMsPerUnit, loadAverage1m: { before: loadBefore, after: load1() } } };
}

const serverEnv = (origin = '') => ({ HAVEN_BULK_MAX_FILE_RESOURCES: '5000', HAVEN_BULK_WORKERS: String(workers), HAVEN_IMPORT_ALLOWED_ORIGINS: origin });

/** Phase 1: core ingest into a fresh database, then the export whose files the imports pull. */
async function ingestAndExport(): Promise<{ ingest: Record<string, unknown>; files: Map<string, string>; types: string[] }> {
  const dataDir = '/tmp/haven-bench-import-a';
  const dbUrl = await freshDatabase(serverUrl, 'haven_bench_import_a');
  const server = await startServerChild({ dataDir, port: 18493, databaseUrl: dbUrl, env: serverEnv() });
  try {
    const meter = await createCpuMeter(server.pid, dbUrl, undefined);
    const client = createFhirClient(server.baseUrl, await readBootstrap(dataDir));
    const ingest = await measured(meter, () => runSynth(client, { patients, seed: 11, concurrency: 3 }), (s) => s.resources);
    await meter.close();
    const tokens = await createTokenHolder(server.baseUrl, dataDir);
    const manifest = await runJob(server, tokens.get(), '$export');
    const files = new Map<string, string>();
    for (const [i, o] of manifest.output.entries()) {
      const res = await fetch(o.url, { headers: { authorization: `Bearer ${tokens.get()}` } });
      files.set(`/${i + 1}.${o.type}.ndjson`, await res.text());
    }
    return { ingest: ingest.figures, files, types: manifest.output.map((o) => o.type) };
  } finally {
    await server.stop();
  }
}

/** Phase 2: $import of those files into a second fresh database (creates), then again (updates). */
async function importTwice(files: Map<string, string>, types: string[]) {
  const source = await ndjsonServer(files);
  const dataDir = '/tmp/haven-bench-import-b';
  const dbUrl = await freshDatabase(serverUrl, 'haven_bench_import_b');
  const cpuProfDir = args.includes('--cpu-prof') ? join('bench', 'results', 'prof') : undefined;
  const server = await startServerChild({ dataDir, port: 18494, databaseUrl: dbUrl, env: serverEnv(source.origin), ...(cpuProfDir ? { cpuProfDir } : {}) });
  try {
    const meter = await createCpuMeter(server.pid, dbUrl, undefined);
    const tokens = await createTokenHolder(server.baseUrl, dataDir);
    const body = { resourceType: 'Parameters', parameter: [...files.keys()].map((path, i) => ({ name: 'input', part: [{ name: 'type', valueCode: types[i] }, { name: 'url', valueUrl: `${source.origin}${path}` }] })) };
    const total = (m: { output: { count: number }[] }) => m.output.reduce((a, o) => a + o.count, 0);
    const creates = await measured(meter, () => runJob(server, tokens.get(), '$import', body), total);
    await tokens.renew();
    const updates = await measured(meter, () => runJob(server, tokens.get(), '$import', body), total);
    await meter.close();
    return { creates: { ...creates.figures, errors: creates.out.error.length }, updates: { ...updates.figures, errors: updates.out.error.length } };
  } finally {
    await server.stop();
    source.server.close();
  }
}

async function main(): Promise<void> {
  const { ingest, files, types } = await ingestAndExport();
  const imports = await importTwice(files, types);
  const ingestRate = ingest.resourcesPerSecond as number;
  const result = {
    benchmark: 'bulk-import',
    date: new Date().toISOString(),
    machine: machineFacts(),
    setup: { database: 'external PostgreSQL', encryption: 'on (local KMS)', audit: 'on (one entry per resource written)', validation: 'on', patients, ingestConcurrency: 3, importWorkers: workers, filesPulled: files.size, source: 'a local HTTP server (allow-listed origin), NDJSON of a system export of the ingested data' },
    coreIngest: ingest,
    importCreates: imports.creates,
    importUpdates: imports.updates,
    ratios: {
      importCreatesOverIngestRate: round(imports.creates.resourcesPerSecond / ingestRate, 2),
      importCreatesOverIngestServerCpu: round(imports.creates.serverCpuMsPerResource / (ingest.serverCpuMsPerResource as number), 2),
    },
    target: 'issue 7: $import at >= the ingest rate of the core issue',
  };
  const file = join('bench', 'results', `bulk-import-${result.date.slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({ coreIngest: ingest, imports, ratios: result.ratios }, null, 2));
  console.log(`written ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
