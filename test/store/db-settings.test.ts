import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDb, type TestDb } from '../support/db.js';

/** Session settings every Haven connection carries (src/store/db.ts). */
let t: TestDb;
before(async () => {
  t = await createTestDb({ migrate: false });
});
after(async () => {
  await t.drop();
});

test('JIT is off on every pooled connection, in and outside transactions', async () => {
  // Several at once, so more than one connection of the pool answers.
  const outside = await Promise.all(Array.from({ length: 6 }, () => t.db.query<{ jit: string }>('SHOW jit')));
  assert.deepEqual(outside.map((r) => r.rows[0]!.jit), Array(6).fill('off'));
  const inside = await t.db.transaction((tx) => tx.query<{ jit: string }>('SHOW jit'));
  assert.equal(inside.rows[0]!.jit, 'off');
});
