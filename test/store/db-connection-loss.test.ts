import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDb, type TestDb } from '../support/db.js';

// A backend that dies under a transaction in flight (database restart, kill -9, pg_terminate_backend) fails
// that transaction as "database unavailable" (503 to a client). Before src/store/db.ts gave every pooled client
// an error listener of its own, the driver's `error` event on the checked-out client was uncaught and the
// whole process exited: this test process with it.

let t: TestDb;
before(async () => {
  t = await createTestDb({ migrate: false });
});
after(async () => {
  await t.drop();
});

test('a connection dropped under a transaction fails that transaction, not the process', async () => {
  const marker = `connection-loss-${process.pid}`;
  const inFlight = t.db.transaction(async (tx) => {
    await tx.query(`SELECT pg_sleep(5), '${marker}'`);
  });
  const outcome = inFlight.then(
    () => 'committed',
    (err: { code?: string }) => err.code,
  );
  let terminated = 0;
  for (let i = 0; i < 100 && terminated === 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
    const res = await t.db.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`,
      [`SELECT pg_sleep(5), '${marker}'%`],
    );
    terminated = Number(res.rows[0]!.n);
  }
  assert.equal(terminated, 1, 'the transaction’s backend was not found');
  assert.equal(await outcome, 'DB_UNAVAILABLE');
  // The pool still serves: the dropped client was not handed out again.
  for (let i = 0; i < 12; i++) assert.equal((await t.db.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one, 1);
});
