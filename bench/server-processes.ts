/**
 * Read by id at c16 against one Haven server process and against several on
 * the same store, the 16 connections spread over them: does a second Node
 * process on this machine buy throughput (is one event loop the limit), or
 * is the machine's CPU? API nodes are stateless, so this is also what two
 * nodes on one host would give. Needs a store an earlier `bench/run.ts` left
 * on external PostgreSQL (its database and data directory: keys, bootstrap
 * client). All servers share one public base URL, so one token serves all.
 *
 *   node dist/bench/server-processes.js --database-url postgres://postgres@127.0.0.1:5432/haven_bench \
 *     --data-dir /tmp/haven-bench/external --patients 4000 [--processes 1,2] [--rounds 2] [--seconds 10] [--audit off] [--out FILE]
 *
 * Order per round: the process counts as listed, then reversed in the next round.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createHttpClient, runLoad, type HttpClient } from './http-load.js';
import { redraw } from './ingest.js';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { createTokenHolder, startServerChild, type ServerChild } from './server-process.js';

const databaseUrl = stringArg('database-url');
const dataDir = stringArg('data-dir');
if (!databaseUrl || !dataDir) throw new Error('--database-url and --data-dir (a store left by bench/run.ts) are required');
const patients = positiveArg('patients', 4000);
const rounds = positiveArg('rounds', 2);
const seconds = positiveArg('seconds', 10);
const counts = (stringArg('processes') ?? '1,2').split(',').map(Number);
const auditOff = stringArg('audit') === 'off';
const PORT = 18600;
const env = { HAVEN_BASE_URL: `http://127.0.0.1:${PORT}`, ...(auditOff ? { HAVEN_ENV: 'test', HAVEN_AUDIT: 'off' } : {}) };

const drawn = redraw(42, patients);
const ids = [...drawn.patientIds.map((id) => `/fhir/Patient/${id}`), ...drawn.observationIds.map((id) => `/fhir/Observation/${id}`)];
const randomId = () => ids[Math.floor(Math.random() * ids.length)]!;

async function measure(processes: number) {
  const servers: ServerChild[] = [];
  try {
    for (let i = 0; i < processes; i++) servers.push(await startServerChild({ dataDir: dataDir!, port: PORT + i, databaseUrl, env }));
    const tokens = await createTokenHolder(servers[0]!.baseUrl, dataDir!);
    const clients = servers.map((s) => createHttpClient(s.baseUrl, tokens.get, 16));
    let next = 0;
    // Requests in turn over the servers: each worker's connection count stays even.
    const client: HttpClient = { request: (method, path, body, headers) => clients[next++ % clients.length]!.request(method, path, body, headers), close: () => clients.forEach((c) => c.close()) };
    try {
      await runLoad({ client, concurrency: 16, seconds: 4, maxRequests: 1e9, path: randomId }); // warm-up
      const r = await runLoad({ client, concurrency: 16, seconds, maxRequests: 1e9, path: randomId });
      if (r.errors > 0) throw new Error(`${r.errors} errors, first: ${r.firstError}`);
      return { processes, perSecond: r.perSecond, p50Ms: r.latency.p50Ms, p99Ms: r.latency.p99Ms, clientCpuCores: r.clientCpuCores, load1m: loadavg()[0] };
    } finally {
      client.close();
    }
  } finally {
    for (const s of servers) await s.stop();
  }
}

const runs = [];
for (let round = 0; round < rounds; round++) {
  for (const n of round % 2 === 0 ? counts : [...counts].reverse()) {
    const r = await measure(n);
    console.log(JSON.stringify({ round: round + 1, audit: auditOff ? 'off' : 'on', ...r }));
    runs.push({ round: round + 1, ...r });
  }
}
const out = { benchmark: 'server-processes', audit: auditOff ? 'off' : 'on', seconds, patients, machine: machineFacts(), runs };
const file = stringArg('out');
if (file) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
