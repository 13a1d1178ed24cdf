import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSequencer } from '../../src/audit/sequencer.js';
import { QUEUED_BATCHES_SQL } from '../../src/audit/sequencer-round.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { rootOf } from '../../src/audit/merkle.js';
import { asAttacker, auditFixture, ctxFor } from './support.js';
import { planNodes } from '../support/plan.js';

test('concurrent writers and readers with two competing sequencers yield contiguous, unique seq numbers', async () => {
  const f = await auditFixture();
  const { db } = f.testDb;
  // A second "node": its sequencer competes for the leader lock.
  const other = createSequencer({ db, clock: systemClock, logger: silentLogger, witnessPath: f.witnessPath, intervalMs: 20 });
  f.sequencer.start();
  other.start();
  try {
    const writers = Array.from({ length: 6 }, (_, w) =>
      (async () => {
        for (let i = 0; i < 30; i++) {
          await db.transaction((tx) => f.recorder.inTransaction(ctxFor(w * 100 + i), tx, [{ action: 'create', outcome: 'success', resources: [{ type: 'Observation', id: `o${w}-${i}` }] }]));
        }
      })(),
    );
    const readers = Array.from({ length: 6 }, (_, r) =>
      (async () => {
        for (let i = 0; i < 30; i++) await f.recorder.record(ctxFor(r * 100 + i), [{ action: 'read', outcome: 'success', resources: [] }]);
      })(),
    );
    // A writer whose transaction rolls back leaves no entry (and no hole in the log).
    const rolledBack = db.transaction(async (tx) => {
      await f.recorder.inTransaction(ctxFor(999), tx, [{ action: 'delete', outcome: 'success', resources: [] }]);
      throw new Error('abort');
    });
    await assert.rejects(rolledBack, /abort/);
    await Promise.all([...writers, ...readers]);
  } finally {
    await f.sequencer.stop();
    await other.stop();
  }
  await f.sequencer.drain();
  await f.sequencer.stop();
  const rows = (await db.query<{ seq: string; entry_id: string }>('SELECT seq, entry_id FROM audit_log ORDER BY seq')).rows;
  assert.equal(rows.length, 360);
  rows.forEach((r, i) => assert.equal(Number(r.seq), i, 'contiguous from 0'));
  assert.equal(new Set(rows.map((r) => r.entry_id)).size, 360, 'no entry sequenced twice');
  const entries = await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_entry');
  assert.equal(Number(entries.rows[0]!.n), 360);
  assert.ok(f.recorder.batches < 180, `reads were group-committed (${f.recorder.batches} batches for 180 reads)`);
  const report = await verifyAuditLog(db, { witnessPath: f.witnessPath });
  assert.deepEqual(report.problems, []);
  assert.equal(report.pending, 0);
  await f.testDb.drop();
});

test('drain() while timed rounds run never interleaves two rounds on the leader connection', async () => {
  const f = await auditFixture();
  const { db } = f.testDb;
  const sequencer = createSequencer({ db, clock: systemClock, logger: silentLogger, witnessPath: f.witnessPath, intervalMs: 1 });
  sequencer.start();
  try {
    for (let round = 0; round < 15; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => f.recorder.record(ctxFor(round * 10 + i), [{ action: 'read', outcome: 'success', resources: [] }])));
      // Several drains at once, racing the 1 ms timer: before, they shared one open transaction,
      // so a round could fail on another's rows and the node gave up leadership.
      const drained = await Promise.all([sequencer.drain(), sequencer.drain(), sequencer.drain()]);
      assert.ok(drained.every((n) => n >= 0));
      assert.equal(sequencer.isLeader, true, `still the leader after round ${round}`);
    }
  } finally {
    await sequencer.stop();
    await f.sequencer.stop();
  }
  const rows = (await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows;
  assert.equal(Number(rows[0]!.n), 150);
  const report = await verifyAuditLog(db, { witnessPath: f.witnessPath });
  assert.deepEqual(report.problems, []);
  await f.testDb.drop();
});

test('a drain takes what is queued in one round and returns, even while reads keep arriving; a backlog still drains in full', async () => {
  const f = await auditFixture();
  const { db } = f.testDb;
  const heads = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_tree_head')).rows[0]!.n);
  const read = (i: number) => f.recorder.record(ctxFor(i), [{ action: 'read', outcome: 'success', resources: [] }]);
  try {
    await Promise.all(Array.from({ length: 20 }, (_, i) => read(i)));
    // Readers that never pause: before, a drain went on with another round as long as each one found
    // new batches, so under load the leader signed and witnessed heads back to back.
    let stop = false;
    let n = 100;
    const readers = Array.from({ length: 4 }, async () => {
      while (!stop) await read(n++);
    });
    const before = await heads();
    try {
      await f.sequencer.drain();
      assert.equal((await heads()) - before, 1, 'one round, one head per drain when the queue was not full');
    } finally {
      stop = true;
      await Promise.all(readers);
      await f.sequencer.stop();
    }
    // A backlog bigger than one round (batchSize batches) is still sequenced by one drain.
    const small = createSequencer({ db, clock: systemClock, logger: silentLogger, witnessPath: f.witnessPath, intervalMs: 1000, batchSize: 2 });
    try {
      for (let i = 0; i < 5; i++) await read(1000 + i);
      await small.drain();
      const queued = await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_batch_queue');
      assert.equal(Number(queued.rows[0]!.n), 0, 'nothing left queued');
    } finally {
      await small.stop();
    }
    const report = await verifyAuditLog(db, { witnessPath: f.witnessPath });
    assert.deepEqual(report.problems, []);
    assert.equal(report.pending, 0);
  } finally {
    await f.testDb.drop();
  }
});

test("a round appends every queued batch's stored leaf hashes in order, including a batch whose hashes are not 32 bytes", async () => {
  const f = await auditFixture();
  const { db } = f.testDb;
  try {
    // Batches of several entries (one event-loop turn each), then one forged batch of odd-sized hashes:
    // never written by Haven, it is sequenced as stored (as before the hashes travelled end to end), and
    // verification reports it.
    for (let b = 0; b < 3; b++) await Promise.all(Array.from({ length: 3 + b }, (_, i) => f.recorder.record(ctxFor(b * 10 + i), [{ action: 'read', outcome: 'success', resources: [] }])));
    await asAttacker(f.testDb, [
      `WITH b AS (INSERT INTO audit_batch (tenant_id, first_at, last_at, entries, leaf_hashes)
         VALUES ('default', now(), now(), ARRAY['\\x7b7d'::bytea, '\\x7b7d'::bytea], ARRAY['\\x00ab'::bytea, sha256('x')])
         RETURNING tenant_id, batch_id)
       INSERT INTO audit_batch_queue (batch_id, tenant_id) SELECT batch_id, tenant_id FROM b`,
    ]);
    assert.equal(await f.sequencer.drain(), 14);
    const stored = await db.query<{ leaf_hashes: Buffer[] }>('SELECT b.leaf_hashes FROM audit_batch_log l JOIN audit_batch b USING (tenant_id, batch_id) ORDER BY l.first_seq');
    assert.deepEqual(stored.rows.map((r) => r.leaf_hashes.length), [3, 4, 5, 2]);
    const head = await db.query<{ tree_size: string; root_hash: Buffer }>('SELECT tree_size, root_hash FROM audit_tree_head ORDER BY tree_size DESC LIMIT 1');
    assert.equal(Number(head.rows[0]!.tree_size), 14);
    assert.deepEqual(head.rows[0]!.root_hash, rootOf(stored.rows.flatMap((r) => r.leaf_hashes)));
    const report = await verifyAuditLog(db, { witnessPath: f.witnessPath });
    assert.ok(report.problems.length > 0, 'the forged batch is reported');
  } finally {
    await f.sequencer.stop();
    await f.testDb.drop();
  }
});

test("a round reads queued batches by primary key, never the whole log, even when the queue's statistics say it is large", async () => {
  const f = await auditFixture();
  const { db } = f.testDb;
  try {
    // A log of 20,000 batches, all queued and sequenced, and a queue never analysed (autovacuum off):
    // PostgreSQL estimates the queue from its pages, thousands of rows while it holds three, and the
    // plain join hashed the queue and scanned audit_batch sequentially.
    await asAttacker(f.testDb, [
      `WITH b AS (INSERT INTO audit_batch (tenant_id, first_at, last_at, entries, leaf_hashes)
         SELECT 'default', now(), now(), ARRAY['\\x7b7d'::bytea], ARRAY[sha256(int4send(g))] FROM generate_series(1, 20000) g
         RETURNING tenant_id, batch_id)
       INSERT INTO audit_batch_queue (batch_id, tenant_id) SELECT batch_id, tenant_id FROM b`,
      'ANALYZE audit_batch',
      'DELETE FROM audit_batch_queue',
    ]);
    for (let i = 0; i < 3; i++) await f.recorder.record(ctxFor(i), [{ action: 'read', outcome: 'success', resources: [] }]);
    const nodes = await planNodes(db, QUEUED_BATCHES_SQL, [1000]);
    const onLog = nodes.filter((n) => n['Relation Name'] === 'audit_batch');
    assert.ok(onLog.length > 0, 'the plan reads audit_batch');
    assert.deepEqual(
      onLog.map((n) => [n['Node Type'], n['Index Name']]),
      [['Index Scan', 'audit_batch_pkey']],
      'audit_batch is read by its primary key',
    );
    assert.equal(await f.sequencer.drain(), 3, 'the three queued entries are sequenced');
    const log = await db.query<{ n: string }>('SELECT count(*) AS n FROM audit_batch_log');
    assert.equal(Number(log.rows[0]!.n), 3);
  } finally {
    await f.sequencer.stop();
    await f.testDb.drop();
  }
});
