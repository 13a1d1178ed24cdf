/**
 * PostgreSQL CPU of one read group-commit batch, split: the audit INSERT
 * (insert.ts) in a loop on one connection at several batch sizes, with
 * synchronous commit (as served) and without (the commit's WAL flush taken
 * out), and without the GIN patient index; then one sequencer drain over
 * 3,000 queued batches. Backend CPU from /proc (bench/cpu-meter.ts), so run it
 * against a PostgreSQL on this host.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/audit-batch-cost.js [--batches 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildEntry, type AuditedContext, type EntryRow } from '../src/audit/entry.js';
import { insertEntries } from '../src/audit/insert.js';
import { createSequencer } from '../src/audit/sequencer.js';
import { asTenantId, silentLogger, systemClock } from '../src/kernel/index.js';
import { createTestDb } from '../test/support/db.js';
import { cpuMsOf } from './cpu-meter.js';
import { positiveArg } from './options.js';
import { round } from './stats.js';

const batches = positiveArg('batches', 1000);
const ctx: AuditedContext = { tenant: asTenantId('default'), requestId: 'bench', principal: { subject: 's', clientId: 'c', kind: 'client', scopes: [] } };
const rowsOf = (n: number, k: number): EntryRow[] =>
  Array.from({ length: n }, (_, i) =>
    buildEntry(ctx, 'node', new Date(), { action: 'read', outcome: 'success', status: 200, resources: [{ type: 'Patient', patient: `bi:${(k * n + i) % 500}`.padEnd(35, '0') }] }),
  );

const t = await createTestDb();
const dir = mkdtempSync(join(tmpdir(), 'haven-bench-batch-'));
const client = await t.db.pool.connect();
try {
  const pid = (await client.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
  const results: Record<string, unknown>[] = [];
  const run = async (label: string, size: number, count: number) => {
    const before = cpuMsOf(pid);
    const started = performance.now();
    for (let k = 0; k < count; k++) await insertEntries(client, rowsOf(size, k));
    const usPerBatch = (1000 * (cpuMsOf(pid) - before)) / count;
    const r = { label, size, pgUsPerBatch: round(usPerBatch, 0), pgUsPerEntry: round(usPerBatch / size, 0), wallMsPerBatch: round((performance.now() - started) / count, 2) };
    results.push(r);
    console.error(JSON.stringify(r));
  };
  for (let rep = 0; rep < 2; rep++) {
    await client.query('SET synchronous_commit = on');
    for (const size of [1, 5, 16]) await run('synchronous commit (as served)', size, batches);
    await client.query('SET synchronous_commit = off');
    for (const size of [1, 5]) await run('synchronous_commit off (no WAL flush wait)', size, batches);
  }
  await client.query('SET synchronous_commit = on');
  await client.query('DROP INDEX audit_batch_by_patient');
  for (const size of [1, 5]) await run('no GIN patient index', size, batches);
  const sequencer = createSequencer({ db: t.db, clock: systemClock, logger: silentLogger, witnessPath: join(dir, 'witness.jsonl'), intervalMs: 1000 });
  await sequencer.drain();
  for (let k = 0; k < 3000; k++) await insertEntries(client, rowsOf(5, k));
  const backends = (await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows.map((r) => r.pid);
  const cpu = () => backends.reduce((a, p) => a + cpuMsOf(p), 0);
  const before = cpu();
  await sequencer.drain();
  const seqUsPerBatch = round((1000 * (cpu() - before)) / 3000, 0);
  await sequencer.stop();
  console.log(JSON.stringify({ batches, results, sequencerPgUsPerBatch: seqUsPerBatch }, null, 1));
} finally {
  client.release();
  await t.drop();
  rmSync(dir, { recursive: true, force: true });
}
