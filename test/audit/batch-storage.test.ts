import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildEntry } from '../../src/audit/entry.js';
import { byteaArray, insertEntries, toBatches } from '../../src/audit/insert.js';
import type { EntryRow } from '../../src/audit/entry.js';
import { createSequencer } from '../../src/audit/sequencer.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { migrate } from '../../src/store/migrate.js';
import { createTestDb } from '../support/db.js';
import { tempDir } from '../support/temp-dir.js';
import { ctxFor } from './support.js';

/** A batch big enough to be compressed on its way to TOAST (8 entries, ~3 kB). */
const batch = (from: number) =>
  Array.from({ length: 8 }, (_, i) =>
    buildEntry(ctxFor(from + i), 'node-a', new Date(), { action: 'read', outcome: 'success', status: 200, resources: [{ type: 'Observation', id: randomUUID(), version: 1, patient: `Patient/${randomUUID()}` }] }),
  );

test('migration 035: batch entries are LZ4-compressed where PostgreSQL has LZ4 (pglz otherwise), batches stored before still read back and verify', async () => {
  const testDb = await createTestDb({ migrate: false });
  const { db } = testDb;
  const witnessPath = join(tempDir('haven-audit-'), 'audit', 'witness.jsonl');
  const sequencer = createSequencer({ db, clock: systemClock, logger: silentLogger, witnessPath, intervalMs: 50 });
  try {
    await migrate(db, { upTo: '034' });
    const before = batch(0);
    await insertAsBefore040(db, before);
    await migrate(db);
    const afterRows = batch(100);
    await insertEntries(db, afterRows);
    const lz4 = await db.query('CREATE TEMP TABLE lz4_probe (b bytea COMPRESSION lz4)').then(
      () => true,
      () => false,
    );
    const stored = await db.query<{ c: string | null; entries: Buffer[] }>('SELECT pg_column_compression(entries) AS c, entries FROM audit_batch ORDER BY batch_id');
    assert.deepEqual(
      stored.rows.map((r) => r.c),
      ['pglz', lz4 ? 'lz4' : 'pglz'],
    );
    assert.deepEqual(stored.rows[0]!.entries, before.map((r) => r.canonical));
    assert.deepEqual(stored.rows[1]!.entries, afterRows.map((r) => r.canonical));
    assert.equal(await sequencer.drain(), 16);
    const report = await verifyAuditLog(db, { witnessPath });
    assert.deepEqual(report.problems, []);
    assert.equal(report.entries, 16);
  } finally {
    await sequencer.stop();
    await testDb.drop();
  }
});

/** A batch row as the insert path wrote it before migration 040 (no agent column yet). */
async function insertAsBefore040(db: { query: (sql: string, params: unknown[]) => Promise<unknown> }, rows: EntryRow[]): Promise<void> {
  const b = toBatches(rows);
  await db.query(
    `WITH b AS (
       INSERT INTO audit_batch (tenant_id, first_at, last_at, patient_ids, entries, leaf_hashes)
       SELECT t, fa::timestamptz, la::timestamptz, string_to_array(p, chr(31)), ($7::bytea[])[f:l], ($8::bytea[])[f:l]
       FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[]) AS u(t, fa, la, p, f, l)
       RETURNING tenant_id, batch_id)
     INSERT INTO audit_batch_queue (batch_id, tenant_id) SELECT batch_id, tenant_id FROM b`,
    [b.tenant, b.firstAt, b.lastAt, b.patients, b.from, b.to, byteaArray(b.entries), byteaArray(b.leaves)],
  );
}

test('byteaArray is a bytea[] in PostgreSQL binary format: elements of any length, empty and large included, arrive byte for byte', async () => {
  const testDb = await createTestDb({ migrate: false });
  try {
    const items = [Buffer.alloc(0), Buffer.from('{"a":1}'), Buffer.from([0, 255, 92, 34, 44, 123]), Buffer.alloc(70_000, 7)];
    const res = await testDb.db.query<{ a: Buffer[]; n: number; lower: number }>('SELECT $1::bytea[] AS a, cardinality($1::bytea[]) AS n, array_lower($1::bytea[], 1) AS lower', [byteaArray(items)]);
    assert.deepEqual(res.rows[0], { a: items, n: 4, lower: 1 });
  } finally {
    await testDb.drop();
  }
});
