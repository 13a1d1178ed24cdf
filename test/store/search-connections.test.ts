import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { systemClock, type RequestContext } from '../../src/kernel/index.js';
import { createDb, type Queryable } from '../../src/store/db.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec } from '../../src/store/index.js';
import { createShapeNames, type SearchConnections } from '../../src/store/search-connections.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Search statements: named per SQL shape on connections of their own, planned with their values every time. */
let t: TestDb;
let server: TestServer;
before(async () => {
  t = await createTestDb();
  server = await startTestServer();
});
after(async () => {
  await server.close();
  await t.drop();
});

interface Prepared {
  statement: string;
  generic_plans: string;
  custom_plans: string;
}

/** The prepared statements of every connection behind `q` (`connections` queries at once reach them all). */
async function preparedOn(q: Queryable, connections: number): Promise<Prepared[]> {
  const all = await Promise.all(
    Array.from({ length: connections }, () =>
      q.query<Prepared>(`SELECT statement, generic_plans::text, custom_plans::text, pg_sleep(0.05) FROM pg_prepared_statements`),
    ),
  );
  return all.flatMap((r) => r.rows);
}

test('a statement run on the search connections is prepared once and planned with its values every time', async () => {
  const db = createDb({ connectionString: t.url, maxConnections: 4, searchConnections: 1 });
  try {
    assert.ok(db.search);
    const sql = `SELECT count(*) AS n FROM resource WHERE tenant_id = $1 AND resource_type = $2`;
    // More than the five executions after which PostgreSQL would otherwise consider a generic plan.
    for (let i = 0; i < 8; i++) await db.search.query(sql, ['default', i % 2 === 0 ? 'Patient' : 'Observation']);
    const mode = await db.search.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
    assert.equal(mode.rows[0]!.plan_cache_mode, 'force_custom_plan');
    const mine = (await preparedOn(db.search, 1)).filter((p) => p.statement === sql);
    assert.deepEqual(mine.map((p) => [p.custom_plans, p.generic_plans]), [['8', '0']]);
    // The pool's other connections keep the default (reads by id are worth their generic plans).
    const main = await db.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
    assert.equal(main.rows[0]!.plan_cache_mode, 'auto');
  } finally {
    await db.close();
  }
});

test("the store's estimates and look-ups (rows) run on the search connections, named, as its pages do", async () => {
  const db = createDb({ connectionString: t.url, maxConnections: 4, searchConnections: 1 });
  try {
    assert.ok(db.search);
    const store = createResourceStore({
      db,
      searchDb: db.search,
      codec: plaintextCodec,
      indexWriter: createIndexWriter({ normalize: (v) => v.toLowerCase() }),
      extract: () => [],
      clock: systemClock,
      hooks: emptyHooks(),
    });
    const ctx = { tenant: 'default', requestId: 'test' } as RequestContext;
    // The form of the `_has` estimate (src/search/has-last.ts): a planning-only EXPLAIN with values.
    const sql = `EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE r.tenant_id = $1 AND r.resource_type = $2`;
    for (const type of ['Patient', 'Observation', 'Encounter']) {
      const rows = await store.rows(ctx, { sql, params: ['default', type] });
      assert.ok(Array.isArray(rows[0]?.['QUERY PLAN']), 'the plan comes back');
    }
    const mine = (await preparedOn(db.search, 1)).filter((p) => p.statement === sql);
    assert.equal(mine.length, 1, 'prepared once, on the search connection');
    // Never on the pool's other connections.
    assert.deepEqual((await preparedOn(db, 3)).filter((p) => p.statement === sql), []);
  } finally {
    await db.close();
  }
});

test('a plan-stable statement runs on generic-planned connections of its own, named once', async () => {
  const db = createDb({ connectionString: t.url, maxConnections: 20 });
  try {
    const search = db.search as SearchConnections | undefined;
    assert.ok(search?.stablePool, 'the default pool size keeps generic-planned search connections');
    const text = `SELECT count(*) AS n FROM resource WHERE tenant_id = $1 AND resource_type = $2 AND id = ANY($3::text[])`;
    for (let i = 0; i < 8; i++) await search.query({ stablePlan: true, text }, ['default', 'Patient', [`p${i}`]]);
    const mode = await search.stablePool.query<{ plan_cache_mode: string }>('SHOW plan_cache_mode');
    assert.equal(mode.rows[0]!.plan_cache_mode, 'force_generic_plan');
    const stable = { query: (sql: string) => search.stablePool!.query(sql) } as Queryable;
    const mine = (await preparedOn(stable, 2)).filter((p) => p.statement === text);
    assert.equal(mine.reduce((n, p) => n + Number(p.generic_plans), 0), 8);
    assert.equal(mine.reduce((n, p) => n + Number(p.custom_plans), 0), 0);
    // Never on the custom-planned connections, and a plain statement never on the generic ones.
    assert.deepEqual((await preparedOn(search, 5)).filter((p) => p.statement === text), []);
    await search.query(`SELECT 1 AS one WHERE $1::text IS NOT NULL`, ['x']);
    assert.deepEqual((await preparedOn(stable, 2)).filter((p) => p.statement.includes('SELECT 1 AS one')), []);
  } finally {
    await db.close();
  }
});

test('without generic-planned connections a plan-stable statement runs custom-planned, and unnamed in a transaction', async () => {
  const db = createDb({ connectionString: t.url, maxConnections: 4, searchConnections: 1 });
  try {
    const search = db.search as SearchConnections | undefined;
    assert.ok(search);
    assert.equal(search.stablePool, undefined);
    const text = `SELECT count(*) AS n FROM resource WHERE tenant_id = $1 AND id = ANY($2::text[])`;
    for (let i = 0; i < 6; i++) await search.query({ stablePlan: true, text }, ['default', [`p${i}`]]);
    const mine = (await preparedOn(search, 1)).filter((p) => p.statement === text);
    assert.deepEqual(mine.map((p) => [p.custom_plans, p.generic_plans]), [['6', '0']]);
    const inTx = await db.transaction((tx) => tx.query<{ n: string }>({ stablePlan: true, text }, ['default', ['p1']]));
    assert.equal(inTx.rows[0]!.n, '0');
  } finally {
    await db.close();
  }
});

/**
 * A new search connection's SET is awaited before the pool hands the connection out, not pipelined with the
 * query that asked for it: pg 8.23 deprecates a query on a client that is still executing one (and pg 9
 * removes it). In a child process with --throw-deprecation, so the warning, which pg gives once per process,
 * fails the query there whatever ran before in this one.
 */
test('a new search connection is set up before its first query, not pipelined with it', () => {
  const db = new URL('../../src/store/db.js', import.meta.url).href;
  const script = `
    import { createDb } from '${db}';
    const db = createDb({ connectionString: process.env.SEARCH_TEST_URL, maxConnections: 4, searchConnections: 1 });
    try {
      const mode = await db.search.query('SHOW plan_cache_mode');
      process.stdout.write(mode.rows[0].plan_cache_mode);
    } finally {
      await db.close();
    }`;
  const run = spawnSync(process.execPath, ['--throw-deprecation', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, SEARCH_TEST_URL: t.url },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, 'force_custom_plan');
  assert.doesNotMatch(run.stderr, /Deprecation/);
});

test('the search and control connections come out of the pool size, never on top of it', async () => {
  // [main, search (custom-planned), control, search (generic-planned)]
  const sizes = (max: number, search?: number) => {
    const db = createDb({ connectionString: t.url, maxConnections: max, ...(search === undefined ? {} : { searchConnections: search }) });
    const control = db.control.pool === db.pool ? 0 : db.control.pool.options.max;
    const s = db.search as SearchConnections | undefined;
    const out = [db.pool.options.max, s?.pool.options.max ?? 0, control, s?.stablePool?.options.max ?? 0];
    void db.close();
    return out;
  };
  assert.deepEqual(sizes(20), [10, 5, 3, 2]);
  assert.deepEqual(sizes(40), [23, 10, 3, 4]);
  assert.deepEqual(sizes(10), [4, 2, 3, 1]);
  assert.deepEqual(sizes(8), [4, 2, 1, 1]);
  assert.deepEqual(sizes(6), [4, 1, 1, 0]);
  assert.deepEqual(sizes(3), [3, 0, 0, 0]);
  assert.deepEqual(sizes(2, 5), [1, 1, 0, 0]);
});

test('only the first shapes are named: later ones run unnamed, so prepared statements stay bounded', () => {
  const names = createShapeNames(2);
  assert.equal(names.nameOf('SELECT 1'), 'search.1');
  assert.equal(names.nameOf('SELECT 2'), 'search.2');
  assert.equal(names.nameOf('SELECT 3'), undefined);
  assert.equal(names.nameOf('SELECT 1'), 'search.1');
  assert.equal(names.size, 2);
});

test('a FHIR search through the server runs as a custom-planned named statement', async () => {
  await server.fhir('/Patient/p1', { method: 'PUT', json: { resourceType: 'Patient', id: 'p1', name: [{ family: 'Example' }] } });
  for (let i = 0; i < 7; i++) {
    const res = await server.fhir('/Patient?family=Example');
    assert.equal(res.status, 200);
    assert.equal(res.body.total, 1);
  }
  const search = server.testDb.db.search;
  assert.ok(search, 'the test database pool (10 connections) keeps some for searches');
  const pages = (await preparedOn(search, 2)).filter((p) => /FROM resource r/.test(p.statement) && p.statement.includes('idx_string'));
  assert.equal(pages.reduce((n, p) => n + Number(p.custom_plans), 0), 7);
  assert.equal(pages.reduce((n, p) => n + Number(p.generic_plans), 0), 0);
});

test('a FHIR search by literal reference, and its include round, run generic-planned', async () => {
  await server.fhir('/Patient/gp1', { method: 'PUT', json: { resourceType: 'Patient', id: 'gp1' } });
  await server.fhir('/Observation/go1', {
    method: 'PUT',
    json: { resourceType: 'Observation', id: 'go1', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/gp1' } },
  });
  for (let i = 0; i < 6; i++) {
    const res = await server.fhir('/Observation?patient=Patient/gp1&_include=Observation:patient');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.entry.map((e: { resource: { id: string } }) => e.resource.id), ['go1', 'gp1']);
  }
  const search = server.testDb.db.search as SearchConnections | undefined;
  assert.ok(search?.stablePool, 'the test database pool (10 connections) keeps a generic-planned one');
  const stable = { query: (sql: string) => search.stablePool!.query(sql) } as Queryable;
  const prepared = await preparedOn(stable, 1);
  const page = prepared.filter((p) => p.statement.includes('idx_reference') && p.statement.includes('OFFSET'));
  const round = prepared.filter((p) => p.statement.includes('(r.resource_type, r.id) IN'));
  assert.equal(page.reduce((n, p) => n + Number(p.generic_plans), 0), 6);
  assert.equal(round.reduce((n, p) => n + Number(p.generic_plans), 0), 6);
  assert.equal([...page, ...round].reduce((n, p) => n + Number(p.custom_plans), 0), 0);
});
