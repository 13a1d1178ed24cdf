import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDb } from '../../src/store/db.js';
import { createTestDb, type TestDb } from '../support/db.js';

/** Settings every Haven session gets from its database (migration 031). */
let t: TestDb;
before(async () => {
  t = await createTestDb();
});
after(async () => {
  await t.drop();
});

test('JIT is off on every new connection of a migrated database, in and outside transactions', async () => {
  const db = createDb({ connectionString: t.url, maxConnections: 4 });
  try {
    // Several at once, so more than one connection answers.
    const outside = await Promise.all(Array.from({ length: 4 }, () => db.query<{ jit: string }>('SHOW jit')));
    assert.deepEqual(outside.map((r) => r.rows[0]!.jit), Array(4).fill('off'));
    const inside = await db.transaction((tx) => tx.query<{ jit: string }>('SHOW jit'));
    assert.equal(inside.rows[0]!.jit, 'off');
  } finally {
    await db.close();
  }
});
