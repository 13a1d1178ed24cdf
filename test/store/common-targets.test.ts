import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCommonTargets } from '../../src/store/common-targets.js';
import { createDb } from '../../src/store/db.js';
import { createTestDb, type TestDb } from '../support/db.js';

/** The reference targets PostgreSQL's statistics call most common: their searches keep custom plans. */
let t: TestDb;
before(async () => {
  t = await createTestDb();
});
after(async () => {
  await t.drop();
});

test('a target half the references point at is common once the table is analysed; a rare one is not', async () => {
  let clock = 0;
  const source = createCommonTargets(t.db, { refreshMs: 1000, now: () => clock });
  // Before any ANALYZE PostgreSQL knows no common value, and neither does Haven.
  assert.equal((await source.current()).has('org-big'), false);
  await t.db.query(
    `INSERT INTO idx_reference (tenant_id, resource_type, resource_id, param, target_type, target_id)
     SELECT 'default', 'Patient', 'p' || n, 'general-practitioner', 'Organization', CASE WHEN n % 2 = 0 THEN 'org-big' ELSE 'org-' || n END
     FROM generate_series(1, 4000) n`,
  );
  await t.db.query('ANALYZE idx_reference');
  // Read again only when the list is older than refreshMs, and then in the background.
  const stale = await source.current();
  assert.equal(stale.has('org-big'), false);
  clock = 1000;
  await source.current();
  await new Promise((resolve) => setTimeout(resolve, 200));
  const fresh = await source.current();
  assert.equal(fresh.has('org-big'), true);
  assert.equal(fresh.has('org-3'), false);
});

test('a failed read keeps the list it had, and the search is not failed for it', async () => {
  // Runs after the first test, on its analysed table.
  const db = createDb({ connectionString: t.url, maxConnections: 1 });
  let clock = 0;
  const source = createCommonTargets(db, { refreshMs: 10, now: () => clock });
  assert.equal((await source.current()).has('org-big'), true);
  await db.close();
  clock = 100;
  await source.current();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await source.current()).has('org-big'), true);
});
