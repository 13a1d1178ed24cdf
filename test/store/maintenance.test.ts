import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { analyzeStaleTables } from '../../src/store/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { planNodes } from '../support/plan.js';

/** Inserts 5,000 idx_token rows (ids `<prefix><n>`) and waits until the statistics counters show them. */
async function makeIdxTokenStale(t: TestDb, prefix = 'o'): Promise<void> {
  await t.db.query(
    `INSERT INTO idx_token (tenant_id, resource_type, resource_id, param, system, code)
     SELECT 'default', 'Observation', $1 || g, 'code', 'http://loinc.org', (g % 50)::text FROM generate_series(1, 5000) g`,
    [prefix],
  );
  // Statistics counters are updated asynchronously by the backend; wait until they show the inserts.
  for (let i = 0; i < 100; i++) {
    await t.db.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
    const r = await t.db.query<{ n: string }>("SELECT n_mod_since_analyze AS n FROM pg_stat_user_tables WHERE relname = 'idx_token'");
    if (Number(r.rows[0]?.n) >= 5000) break;
    await new Promise((res) => setTimeout(res, 100));
  }
}

const statsRows = async (t: TestDb) => Number((await t.db.query<{ n: string }>("SELECT count(*) AS n FROM pg_stats WHERE tablename = 'idx_token'")).rows[0]?.n);

test('tables changed a lot since their last ANALYZE get fresh statistics', async () => {
  const t = await createTestDb();
  try {
    await t.db.query('ANALYZE');
    await makeIdxTokenStale(t);
    const analysed = await analyzeStaleTables(t.db);
    assert.ok(analysed.includes('idx_token'), `analysed: ${analysed.join(', ')}`);
    assert.ok((await statsRows(t)) > 0);
  } finally {
    await t.drop();
  }
});

test('a table another process holds (autovacuum) is skipped, not waited for', async () => {
  const t = await createTestDb();
  const holder = new pg.Client({ connectionString: t.url });
  await holder.connect();
  try {
    await makeIdxTokenStale(t);
    // The lock autovacuum takes to vacuum or analyse a table; ANALYZE needs the same one.
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE idx_token IN SHARE UPDATE EXCLUSIVE MODE');
    const outcome = await Promise.race([
      analyzeStaleTables(t.db).then(() => 'done'),
      new Promise((res) => setTimeout(() => res('still waiting for the lock after 5 s'), 5_000)),
    ]);
    assert.equal(outcome, 'done');
    assert.equal(await statsRows(t), 0, 'the held table was left alone');
    await holder.query('COMMIT');
    // Released: the next round analyses it.
    assert.ok((await analyzeStaleTables(t.db)).includes('idx_token'));
    assert.ok((await statsRows(t)) > 0);
  } finally {
    await holder.end().catch(() => undefined);
    await t.drop();
  }
});

test('a large table analysed moments ago waits for its gap; a young one is analysed as soon as it is stale', async () => {
  const t = await createTestDb();
  try {
    await t.db.query('ANALYZE');
    await makeIdxTokenStale(t);
    // 5,000 rows, analysed just now: "large" when the young limit is 1,000. Then 5,000 more.
    await t.db.query('ANALYZE idx_token');
    await makeIdxTokenStale(t, 'p');
    assert.ok(!(await analyzeStaleTables(t.db, { youngRows: 1_000, minGapSeconds: 30 })).includes('idx_token'), 'large and analysed within 30 s: left for later');
    assert.ok((await analyzeStaleTables(t.db, { youngRows: 1_000_000, minGapSeconds: 30 })).includes('idx_token'), 'young: analysed at once');
  } finally {
    await t.drop();
  }
});

/** Appends `n` audit batches with one entity each (`<prefix><k>`, or `prefix` in all when `same`), and waits until the statistics counters show them. */
async function appendBatches(t: TestDb, n: number, prefix: string, same = false): Promise<void> {
  await t.db.query(
    `INSERT INTO audit_batch (tenant_id, first_at, last_at, entity_ids, agent_ids, entries, leaf_hashes)
     SELECT 'default', now() - make_interval(secs => $1 - g), now() - make_interval(secs => $1 - g), ARRAY[CASE WHEN $3 THEN $2 ELSE $2 || g END], ARRAY['app'],
            ARRAY['\\x00'::bytea], ARRAY['\\x00'::bytea]
     FROM generate_series(1, $1) g`,
    [n, prefix, same],
  );
  for (let i = 0; i < 100; i++) {
    await t.db.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
    const r = await t.db.query<{ n: string }>("SELECT n_mod_since_analyze AS n FROM pg_stat_user_tables WHERE relname = 'audit_batch'");
    if (Number(r.rows[0]?.n) >= n) break;
    await new Promise((res) => setTimeout(res, 100));
  }
}

test('the audit log is analysed as it grows: a search by entity reads the entity index, not every batch', async () => {
  const t = await createTestDb();
  try {
    // The log's only ANALYZE saw its first 100 batches, all about one resource; 30,000 batches about other
    // resources came after it. Those statistics put that resource in every batch: newest first, the first 64
    // would be found at once, so the planner walks the batches by time and reads all 30,000 newer ones first.
    await appendBatches(t, 100, 'Observation/hot', true);
    await t.db.query('ANALYZE audit_batch');
    await appendBatches(t, 30_000, 'Observation/o');
    assert.ok((await analyzeStaleTables(t.db)).includes('audit_batch'), 'audit_batch is one of the tables the round keeps fresh');
    // The edge statement of an AuditEvent search by entity, newest first (src/audit/query.ts, runAuditSearch).
    const nodes = await planNodes(
      t.db,
      `SELECT b.last_at AS edge FROM audit_batch b WHERE b.tenant_id = $1 AND (b.entity_ids && $2::text[] OR b.entity_ids IS NULL)
       ORDER BY b.last_at DESC OFFSET 63 LIMIT 1`,
      ['default', ['Observation/hot']],
    );
    const indexes = nodes.map((n) => n['Index Name']).filter(Boolean);
    assert.ok(indexes.includes('audit_batch_by_entity'), `plan: ${nodes.map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}`).join(' > ')}`);
    // The entries' blobs carry no statistics (migration 044): ANALYZE need not read and measure them.
    const targets = await t.db.query<{ attname: string; attstattarget: number }>(
      "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = 'audit_batch'::regclass AND attname IN ('entries', 'leaf_hashes') ORDER BY attname",
    );
    assert.deepEqual(targets.rows, [
      { attname: 'entries', attstattarget: 0 },
      { attname: 'leaf_hashes', attstattarget: 0 },
    ]);
  } finally {
    await t.drop();
  }
});
