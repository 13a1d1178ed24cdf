import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { analyzeStaleTables, vacuumStaleTables } from '../../src/store/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { analyzedNodes, planNodes } from '../support/plan.js';

/**
 * Waits (up to ~10 s) until `column` of pg_stat_user_tables shows at least `n` for `table`: the backend
 * updates the statistics counters asynchronously.
 */
async function waitForCounter(t: TestDb, table: string, column: 'n_mod_since_analyze' | 'n_dead_tup', n: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await t.db.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
    const r = await t.db.query<{ n: string }>(`SELECT ${column} AS n FROM pg_stat_user_tables WHERE relname = $1`, [table]);
    if (Number(r.rows[0]?.n) >= n) break;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Inserts 5,000 idx_token rows (ids `<prefix><n>`) and waits until the statistics counters show them. */
async function makeIdxTokenStale(t: TestDb, prefix = 'o'): Promise<void> {
  await t.db.query(
    `INSERT INTO idx_token (tenant_id, resource_type, resource_id, param, system, code)
     SELECT 'default', 'Observation', $1 || g, 'code', 'http://loinc.org', (g % 50)::text FROM generate_series(1, 5000) g`,
    [prefix],
  );
  await waitForCounter(t, 'idx_token', 'n_mod_since_analyze', 5000);
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
  await waitForCounter(t, 'audit_batch', 'n_mod_since_analyze', n);
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


/**
 * 5,000 idx_token rows, then `dead` of them deleted (as a reindex or an update leaves them), with autovacuum
 * off for the table (as for the whole server on some managed or test servers).
 */
async function idxTokenWithDeadRows(t: TestDb, dead: number): Promise<void> {
  await t.db.query('ALTER TABLE idx_token SET (autovacuum_enabled = false)');
  await makeIdxTokenStale(t);
  await t.db.query("DELETE FROM idx_token WHERE resource_id IN (SELECT 'o' || g FROM generate_series(1, $1) g)", [dead]);
  await waitForCounter(t, 'idx_token', 'n_dead_tup', dead);
}

const allVisiblePages = async (t: TestDb, table: string) =>
  Number((await t.db.query<{ n: number }>('SELECT relallvisible AS n FROM pg_class WHERE relname = $1', [table])).rows[0]?.n);

test('a table autovacuum leaves alone is vacuumed once a fifth of it is dead rows: its look-ups become index-only', async () => {
  const t = await createTestDb();
  try {
    await idxTokenWithDeadRows(t, 2000);
    assert.equal(await allVisiblePages(t, 'idx_token'), 0, 'before: nothing marked all-visible');
    const vacuumed = await vacuumStaleTables(t.db);
    assert.ok(vacuumed.includes('idx_token'), `vacuumed: ${vacuumed.join(', ')}`);
    assert.ok((await allVisiblePages(t, 'idx_token')) > 0, 'after: the visibility map covers the table');
    // The vacuum's connection (no statement timeout, paced) is closed, not handed to the next query.
    assert.equal((await t.db.query<{ d: string }>('SELECT current_setting($1) AS d', ['vacuum_cost_delay'])).rows[0]!.d, '0');
    assert.equal(t.db.pool.totalCount, t.db.pool.idleCount, 'no connection left checked out');
    await t.db.query('ANALYZE idx_token');
    // The look-up of a token search: only resource ids, from the index alone.
    const nodes = await analyzedNodes(
      t.db,
      `SELECT resource_id FROM idx_token WHERE tenant_id = 'default' AND resource_type = 'Observation' AND param = 'code' AND code = '7' AND system = 'http://loinc.org'`,
      [],
    );
    const scan = nodes.find((n) => n['Index Name'] === 'idx_token_lookup_id');
    assert.equal(scan?.['Node Type'], 'Index Only Scan', nodes.map((n) => `${n['Node Type']} ${n['Index Name'] ?? ''}`).join(' > '));
    assert.equal(scan?.['Heap Fetches'], 0);
    // Its dead rows are gone: not again until more die.
    assert.ok(!(await vacuumStaleTables(t.db)).includes('idx_token'));
  } finally {
    await t.drop();
  }
});

test('rows inserted, or few dead ones, are no reason to vacuum; nor is a table autovacuum looks after', async () => {
  const t = await createTestDb();
  try {
    // 5,000 rows inserted and 500 dead: under the 1,000-row floor. A bulk load's growth alone is left alone.
    await idxTokenWithDeadRows(t, 500);
    assert.ok(!(await vacuumStaleTables(t.db)).includes('idx_token'), '5,000 inserted, 500 dead: not vacuumed');
    const autovacuum = (await t.db.query<{ on: boolean }>("SELECT current_setting('autovacuum') = 'on' AS on")).rows[0]!.on;
    if (autovacuum) {
      await t.db.query('ALTER TABLE idx_token RESET (autovacuum_enabled)');
      await t.db.query("DELETE FROM idx_token WHERE resource_id IN (SELECT 'o' || g FROM generate_series(501, 3000) g)");
      await waitForCounter(t, 'idx_token', 'n_dead_tup', 3000);
      assert.ok(!(await vacuumStaleTables(t.db)).includes('idx_token'), 'autovacuum on: left to it');
    }
  } finally {
    await t.drop();
  }
});

test('a vacuum round stopped before it starts vacuums nothing and returns its connection', async () => {
  const t = await createTestDb();
  try {
    await idxTokenWithDeadRows(t, 2000);
    const stopped = new AbortController();
    stopped.abort();
    assert.deepEqual(await vacuumStaleTables(t.db, undefined, stopped.signal), []);
    assert.equal(await allVisiblePages(t, 'idx_token'), 0);
    assert.equal(t.db.pool.waitingCount, 0);
    assert.equal(t.db.pool.totalCount, t.db.pool.idleCount, 'no connection left checked out');
  } finally {
    await t.drop();
  }
});
