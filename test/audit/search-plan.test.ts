import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchWhere, compileAuditSearch, countStatement, ENTRY_COLUMNS, ENTRY_FROM, entryWhere, runAuditSearch, windowBound, type AuditSearch } from '../../src/audit/query.js';
import type { Db } from '../../src/store/index.js';
import { createTestDb } from '../support/db.js';
import { analyzedNodes, planNodes, rowsRead } from '../support/plan.js';

/**
 * A search for failed accesses reads only the batches that hold one (migration 045). Before the
 * `failed` column the outcome was only in each entry's signed bytes, and the search parsed every
 * entry of the log: 21-26 s on the 1M-resource benchmark store's 2.7M entries, with no failure in it.
 */
test('a search for failures reads the batches flagged as holding one, not the whole log', async () => {
  const t = await createTestDb();
  try {
    // 30,000 batches of successful accesses, 20 holding a failure, as the insert path flags them.
    await t.db.query(
      `INSERT INTO audit_batch (tenant_id, first_at, last_at, agent_ids, entity_ids, failed, entries, leaf_hashes)
       SELECT 'default', now() - make_interval(secs => 30020 - g), now() - make_interval(secs => 30020 - g), ARRAY['app'], ARRAY['Patient/p' || g],
              g % 1500 = 0, ARRAY['\\x00'::bytea], ARRAY['\\x00'::bytea]
       FROM generate_series(1, 30000) g`,
    );
    await t.db.query('ANALYZE audit_batch');
    const search = compileAuditSearch('default', [['outcome', '8']]);
    // The two statements of runAuditSearch (src/audit/query.ts): the window's edge, then the entries in it.
    const edge = await planNodes(
      t.db,
      `SELECT b.last_at AS edge FROM audit_batch b WHERE ${batchWhere(search.batchConditions, 'b')} ORDER BY b.last_at DESC OFFSET 63 LIMIT 1`,
      search.params,
    );
    const entries = await planNodes(t.db, `SELECT e.entry_id FROM audit_entry e WHERE ${entryWhere(search)} ORDER BY e.recorded_at DESC LIMIT 21`, search.params);
    for (const [name, nodes] of [['edge', edge], ['entries', entries]] as const) {
      const scans = nodes.filter((n) => n['Relation Name'] === 'audit_batch' || n['Index Name']?.startsWith('audit_batch'));
      const described = nodes.map((n) => `${n['Node Type']} ${n['Index Name'] ?? n['Relation Name'] ?? ''}`).join(' > ');
      assert.ok(
        scans.some((n) => n['Index Name'] === 'audit_batch_failed'),
        `${name}: ${described}`,
      );
      assert.ok(!scans.some((n) => n['Index Name'] === 'audit_batch_by_time' || n['Node Type'] === 'Seq Scan'), `${name}: ${described}`);
    }
    // A search for successes (or for either) cannot narrow by the flag.
    assert.deepEqual(compileAuditSearch('default', [['outcome', '0,8']]).batchConditions, ['@tenant_id = $1']);
  } finally {
    await t.drop();
  }
});

const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');
const at = (seconds: number) => new Date(BASE_MS + seconds * 1000).toISOString();

/** Batches of one entry each, recorded `seconds` after BASE_MS, with entries the audit_entry view can read. */
async function insertBatches(db: Db, spans: [number, number][]): Promise<void> {
  const entry = (seconds: string) =>
    `convert_to(json_build_object('id', gen_random_uuid(), 'recordedAt', to_char(${seconds}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'action', 'read', 'outcome', 'success',
       'tenant', 'default', 'v', 1, 'who', json_build_object('subject', 'u', 'clientId', 'c', 'kind', 'user'), 'resources', '[]'::json)::text, 'UTF8')`;
  await db.query(
    `INSERT INTO audit_batch (tenant_id, first_at, last_at, agent_ids, entity_ids, failed, entries, leaf_hashes)
     SELECT 'default', f, l, ARRAY['u', 'c'], ARRAY[]::text[], false,
            CASE WHEN f = l THEN ARRAY[${entry("f AT TIME ZONE 'UTC'")}] ELSE ARRAY[${entry("f AT TIME ZONE 'UTC'")}, ${entry("l AT TIME ZONE 'UTC'")}] END,
            CASE WHEN f = l THEN ARRAY['\\x00'::bytea] ELSE ARRAY['\\x00'::bytea, '\\x00'::bytea] END
     FROM unnest($1::timestamptz[], $2::timestamptz[]) AS s(f, l)`,
    [spans.map(([f]) => at(f)), spans.map(([, l]) => at(l))],
  );
}

/** Rows of audit_batch the two statements of runAuditSearch read for the first page (executed). */
async function batchRowsRead(db: Db, search: AuditSearch): Promise<{ edge: number; entries: number }> {
  const edgeColumn = search.ascending ? 'first_at' : 'last_at';
  const order = search.ascending ? 'ASC' : 'DESC';
  const read = (nodes: Awaited<ReturnType<typeof analyzedNodes>>) =>
    nodes.filter((n) => n['Relation Name'] === 'audit_batch' || n['Index Name']?.startsWith('audit_batch_by_time') || n['Index Name'] === 'audit_batch_by_first').reduce((sum, n) => sum + rowsRead(n), 0);
  const edgeSql = `SELECT b.${edgeColumn} AS edge FROM audit_batch b WHERE ${batchWhere([...search.batchConditions, ...search.scanBounds], 'b')} ORDER BY b.${edgeColumn} ${order} OFFSET 63 LIMIT 1`;
  const edge = await analyzedNodes(db, edgeSql, search.params);
  // The first window of the entry statement, as runAuditSearch bounds it by the edge.
  const edgeAt = (await db.query<{ edge: Date }>(edgeSql, search.params)).rows[0]?.edge;
  const bounds = search.scanBounds.length > 0 ? ` AND ${batchWhere(search.scanBounds, 'e')}` : '';
  const within = (edgeAt ? windowBound(search.ascending, `'${edgeAt.toISOString()}'::timestamptz`) : '') + bounds;
  const entries = await analyzedNodes(db, `SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM} WHERE ${entryWhere(search)}${within} ORDER BY e.recorded_at ${order}, e.entry_id ${order} LIMIT ${search.count + 1}`, search.params);
  return { edge: read(edge), entries: read(entries) };
}

/**
 * A search bounded in time on one side reads the batches near its bound, not every batch on the
 * far side of it (migration 046): `date=lt` walked back from the newest batch (400,000 batches
 * on the 1M-resource bench store), and oldest-first searches sorted every batch. A batch that spans
 * a long time (one long transaction) must still be found: the bound on its other end comes from the
 * longest span of the tenant's batches.
 */
test('date searches start at their bound, and still find a batch that spans a long time', async () => {
  const t = await createTestDb();
  try {
    await insertBatches(t.db, Array.from({ length: 30_000 }, (_, g): [number, number] => [g + 1, g + 1]));
    await t.db.query('ANALYZE audit_batch');
    const cases: [string, [string, string][], number][] = [
      ['date=lt, newest first', [['date', `lt${at(100)}`]], 99],
      ['date=le, newest first', [['date', `le${at(100)}`]], 100],
      ['date=ge, oldest first', [['date', `ge${at(29_901)}`], ['_sort', 'date']], 100],
      ['date=gt, oldest first', [['date', `gt${at(29_900)}`], ['_sort', 'date']], 100],
      ['a window long ago', [['date', `ge${at(1_001)}`], ['date', `le${at(1_050)}`]], 50],
      ['oldest first, unbounded', [['_sort', 'date']], 30_000],
    ];
    for (const [name, query, matching] of cases) {
      const search = compileAuditSearch('default', [...query, ['_count', '20']]);
      const read = await batchRowsRead(t.db, search);
      // A page of 20 within a window of 64 batches: a few hundred rows at most, against 29,900 before.
      assert.ok(read.edge < 300 && read.entries < 300, `${name}: audit_batch rows read ${JSON.stringify(read)}`);
      const page = await runAuditSearch(t.db, search, []);
      assert.equal(page.entries.length, Math.min(20, matching), name);
    }
    const total = async (query: [string, string][]) => (await runAuditSearch(t.db, { ...compileAuditSearch('default', query), countOnly: true }, [])).total;
    assert.equal(await total([['date', `lt${at(51)}`]]), 50);

    // One batch whose entries lie 29,900 s apart: each is found by a bound near it, from either side.
    await insertBatches(t.db, [[50, 29_950]]);
    const first = await runAuditSearch(t.db, compileAuditSearch('default', [['date', `lt${at(51)}`], ['_count', '100']]), []);
    assert.equal(first.entries.length, 51);
    assert.equal(first.entries.filter((e) => e.entry.recordedAt === at(50)).length, 2, 'the ordinary batch at 50 s and the long batch');
    const last = await runAuditSearch(t.db, compileAuditSearch('default', [['date', `gt${at(29_949)}`], ['_sort', 'date'], ['_count', '100']]), []);
    assert.deepEqual(
      last.entries.map((e) => e.entry.recordedAt),
      [at(29_950), at(29_950), ...Array.from({ length: 50 }, (_, k) => at(29_951 + k))],
    );
    assert.equal(await total([['date', `ge${at(29_950)}`], ['date', `le${at(29_950)}`]]), 2);
  } finally {
    await t.drop();
  }
});

/**
 * Counts by date take a batch wholly inside the period by its size and read only the batches at
 * the period's edges entry by entry (a month of a 10M-entry log, 892,800 entries, took 5-7 s).
 * Every count must equal counting the view's rows one by one: periods that cut batches, a batch
 * spanning a long time, one restored without its entries (withheld), and no condition at all.
 */
test('counts by date read only the batches at the edges of the period, and equal counting every entry', async () => {
  const t = await createTestDb();
  try {
    // 2,000 batches of one entry a second, 100 of two entries spanning 3 s, one spanning 1,500 s.
    await insertBatches(t.db, [
      ...Array.from({ length: 2_000 }, (_, g): [number, number] => [g + 1, g + 1]),
      ...Array.from({ length: 100 }, (_, g): [number, number] => [g * 20 + 5, g * 20 + 8]),
      [300, 1_800],
    ]);
    // A withheld batch (migration 030): leaf hashes, no entries.
    await t.db.query(
      `INSERT INTO audit_batch (tenant_id, first_at, last_at, entries, leaf_hashes, withheld)
       VALUES ('default', $1, $2, array_fill(NULL::bytea, ARRAY[3]), array_fill('\\x00'::bytea, ARRAY[3]), 'tenant shredded')`,
      [at(400), at(410)],
    );
    await t.db.query('ANALYZE audit_batch');
    const queries: [string, string][][] = [
      [],
      [['date', `ge${at(1_001)}`], ['date', `le${at(2_000)}`]],
      [['date', `gt${at(1_000)}`]],
      [['date', `lt${at(1_000)}`]],
      [['date', `le${at(406)}`]],
      [['date', `ge${at(406)}`]],
      [['date', `ne${at(306)}`]],
      [['date', at(1_800)]],
      [['date', '2026-01-01']],
      [['date', `eb${at(7)}`], ['date', `sa${at(2)}`]],
      [['date', `ge${at(1_001)}`], ['agent', 'u']], // not by date alone: counted entry by entry
    ];
    for (const query of queries) {
      const search = compileAuditSearch('default', query);
      const oneByOne = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM audit_entry e WHERE ${entryWhere(search)}`, search.params);
      const page = await runAuditSearch(t.db, { ...search, countOnly: true }, []);
      assert.equal(page.total, Number(oneByOne.rows[0]!.n), JSON.stringify(query));
    }
    assert.ok(compileAuditSearch('default', [['date', `ge${at(1)}`], ['agent', 'u']]).wholeBatch === undefined);
    // A thousand seconds in the middle: the entries read are those of the batches at its edges and
    // of the long batch, not the ~1,100 inside it.
    const search = compileAuditSearch('default', [['date', `ge${at(1_001)}`], ['date', `le${at(2_000)}`]]);
    const nodes = await analyzedNodes(t.db, countStatement(search), search.params);
    const entriesRead = nodes.filter((n) => n['Node Type'] === 'Function Scan').reduce((sum, n) => sum + rowsRead(n), 0);
    assert.ok(entriesRead < 20, `entries read one by one: ${entriesRead}`);
  } finally {
    await t.drop();
  }
});
