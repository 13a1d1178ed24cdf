/**
 * Audit micro-benchmarks (`node dist/bench/audit.js`, needs TEST_DATABASE_URL or DATABASE_URL
 * pointing at a PostgreSQL where a throwaway database may be created):
 *  1. SHA-256 throughput of this machine (bulk and leaf-sized messages);
 *  2. `verifyAuditLog` speed in entries/s over a generated log (target: 10M in ≤ 60 s);
 *  3. audited vs unaudited read throughput through the real HTTP server (target ≥ 85 %).
 * Options: BENCH_AUDIT_ENTRIES (default 200000), BENCH_AUDIT_SECONDS (default 5), BENCH_AUDIT_CONCURRENCY (32).
 */
import { hash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app/build.js';
import { createSequencer } from '../src/audit/sequencer.js';
import { buildEntry } from '../src/audit/entry.js';
import { insertEntries } from '../src/audit/insert.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { loadConfig } from '../src/config/index.js';
import { DEFAULT_TENANT, silentLogger, systemClock } from '../src/kernel/index.js';
import { ensureBootstrapClient, createClientAssertion } from '../src/auth/index.js';
import { createTestDb, type TestDb } from '../test/support/db.js';
import { freePort } from '../test/support/server.js';

const ENTRIES = Number(process.env.BENCH_AUDIT_ENTRIES ?? 200_000);
const SECONDS = Number(process.env.BENCH_AUDIT_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_AUDIT_CONCURRENCY ?? 32);

function shaThroughput(): { bulkMBps: number; leafHashesPerSec: number } {
  const chunk = randomBytes(1 << 20);
  let t = performance.now();
  for (let i = 0; i < 256; i++) hash('sha256', chunk, 'buffer');
  const bulkMBps = 256 / ((performance.now() - t) / 1000);
  const leaf = randomBytes(450);
  t = performance.now();
  for (let i = 0; i < 500_000; i++) hash('sha256', leaf, 'buffer');
  return { bulkMBps: Math.round(bulkMBps), leafHashesPerSec: Math.round(500_000 / ((performance.now() - t) / 1000)) };
}

async function buildLog(testDb: TestDb, n: number): Promise<void> {
  const ctx = { tenant: DEFAULT_TENANT, requestId: 'bench', sourceIp: '10.0.0.1', principal: { subject: 'bench-client', clientId: 'bench-client', kind: 'client' as const, scopes: [] } };
  for (let done = 0; done < n; ) {
    const rows = Array.from({ length: Math.min(5000, n - done) }, (_, i) =>
      buildEntry(ctx, 'bench-node', new Date(), { action: 'read', outcome: 'success', resources: [{ type: 'Observation', id: `obs-${done + i}`, version: 1, patient: `Patient/p-${(done + i) % 1000}` }] }),
    );
    await insertEntries(testDb.db, rows);
    done += rows.length;
  }
  const seq = createSequencer({ db: testDb.db, clock: systemClock, logger: silentLogger, witnessPath: join(tmpdir(), `bench-witness-${process.pid}.jsonl`), intervalMs: 1000, batchSize: 50_000 });
  await seq.drain();
  await seq.stop();
}

async function verifySpeed(testDb: TestDb) {
  await buildLog(testDb, ENTRIES);
  const out: Record<string, number> = {};
  for (const checkColumns of [true, false]) {
    const t = performance.now();
    const report = await verifyAuditLog(testDb.db, { checkColumns });
    const s = (performance.now() - t) / 1000;
    if (!report.ok) throw new Error(`verify failed: ${report.problems.join('; ')}`);
    out[checkColumns ? 'entriesPerSecWithColumns' : 'entriesPerSecLeavesOnly'] = Math.round(report.entries / s);
  }
  return { entries: ENTRIES, ...out, projected10MSeconds: Math.round(10_000_000 / out['entriesPerSecLeavesOnly']!) };
}

/** Closed-loop reads of one Patient for SECONDS with CONCURRENCY workers; returns requests/s. */
async function readThroughput(testDb: TestDb, dataDir: string, audit: boolean): Promise<number> {
  const port = await freePort();
  const config = loadConfig({ HAVEN_ENV: 'test', HAVEN_PORT: String(port), HAVEN_DATA_DIR: dataDir, HAVEN_LOG_LEVEL: 'silent' });
  const baseUrl = `http://127.0.0.1:${port}`;
  const { http } = buildApp({ config, db: testDb.db, logger: silentLogger, baseUrl, tenant: DEFAULT_TENANT, ready: async () => true, audit: { enabled: audit } });
  await ensureBootstrapClient({ db: testDb.db, tenant: DEFAULT_TENANT, dir: dataDir, tokenUrl: `${baseUrl}/auth/token` });
  const creds = JSON.parse(await (await import('node:fs/promises')).readFile(join(dataDir, 'bootstrap', 'admin-client.json'), 'utf8')) as { clientId: string; privateJwk: object };
  await http.listen({ host: '127.0.0.1', port });
  try {
    const assertion = await createClientAssertion({ clientId: creds.clientId, privateJwk: creds.privateJwk as never, tokenUrl: `${baseUrl}/auth/token` });
    const tok = (await (await fetch(`${baseUrl}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.cruds', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }) })).json()) as { access_token: string };
    const headers = { authorization: `Bearer ${tok.access_token}`, 'content-type': 'application/fhir+json' };
    const created = await fetch(`${baseUrl}/fhir/Patient`, { method: 'POST', headers, body: JSON.stringify({ resourceType: 'Patient', name: [{ family: 'Bench' }], birthDate: '1970-01-01' }) });
    if (created.status !== 201) throw new Error(`create failed: ${created.status} ${await created.text()}`);
    const url = `${baseUrl}${new URL(created.headers.get('location')!).pathname.replace(/\/_history\/\d+$/, '')}`;
    const until = performance.now() + SECONDS * 1000;
    let count = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < until) {
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`read failed: ${res.status}`);
        count++;
      }
    }));
    return Math.round(count / SECONDS);
  } finally {
    await http.close();
  }
}

async function main(): Promise<void> {
  const machine = { cpus: cpus().length, model: cpus()[0]?.model, node: process.version };
  const sha256 = shaThroughput();
  console.log(JSON.stringify({ machine, sha256 }));
  const logDb = await createTestDb();
  try {
    console.log(JSON.stringify({ verify: await verifySpeed(logDb) }));
  } finally {
    await logDb.drop();
  }
  const readDb = await createTestDb();
  // One data directory for all runs: the local key file must outlive each server.
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-bench-audit-'));
  try {
    await readThroughput(readDb, dataDir, false); // warm-up (JIT, caches, connections): discarded
    const unaudited1 = await readThroughput(readDb, dataDir, false);
    const audited1 = await readThroughput(readDb, dataDir, true);
    const unaudited2 = await readThroughput(readDb, dataDir, false);
    const audited2 = await readThroughput(readDb, dataDir, true);
    const unaudited = Math.round((unaudited1 + unaudited2) / 2);
    const audited = Math.round((audited1 + audited2) / 2);
    console.log(JSON.stringify({ reads: { concurrency: CONCURRENCY, seconds: SECONDS, unauditedPerSec: unaudited, auditedPerSec: audited, ratio: Number((audited / unaudited).toFixed(3)), runs: [unaudited1, audited1, unaudited2, audited2] } }));
  } finally {
    await readDb.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
