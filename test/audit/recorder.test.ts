import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { createAuditRecorder } from '../../src/audit/recorder.js';
import { isHavenError, silentLogger, systemClock } from '../../src/kernel/index.js';
import { createTestDb } from '../support/db.js';
import { ctxFor } from './support.js';

const read = { action: 'read' as const, outcome: 'success' as const, resources: [] };

test('reads recorded in one event-loop turn share one batch row', async () => {
  const t = await createTestDb();
  try {
    const recorder = createAuditRecorder({ db: t.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000 });
    await Promise.all(Array.from({ length: 8 }, (_, i) => recorder.record(ctxFor(i), [read])));
    assert.equal(recorder.batches, 1);
    const rows = await t.db.query<{ n: number }>('SELECT cardinality(entries) AS n FROM audit_batch');
    assert.deepEqual(
      rows.rows.map((r) => r.n),
      [8],
    );
  } finally {
    await t.drop();
  }
});

test('when the batch cannot be committed within timeoutMs, every read in it fails closed (AUDIT_UNAVAILABLE), and later reads recover', async () => {
  const t = await createTestDb();
  const locker = new pg.Client({ connectionString: t.url });
  await locker.connect();
  try {
    const recorder = createAuditRecorder({ db: t.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 300 });
    // An exclusive lock held elsewhere makes the INSERT wait: only the recorder's bound ends the wait.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE audit_batch IN ACCESS EXCLUSIVE MODE');
    const started = performance.now();
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => recorder.record(ctxFor(i), [read])));
    const waited = performance.now() - started;
    await locker.query('ROLLBACK');
    assert.deepEqual(
      outcomes.map((o) => o.status),
      Array(5).fill('rejected'),
    );
    for (const o of outcomes) {
      const reason = (o as PromiseRejectedResult).reason as unknown;
      assert.ok(isHavenError(reason) && reason.code === 'AUDIT_UNAVAILABLE' && reason.category === 'unavailable');
    }
    assert.ok(waited < 3000, `bounded by timeoutMs (${Math.round(waited)} ms)`);
    await recorder.record(ctxFor(9), [read]);
  } finally {
    await locker.end();
    await t.drop();
  }
});
