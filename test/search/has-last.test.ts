import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFhirDefinitions, normalizeString } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';
import { compileHasLastEstimate, compileSearch, parseSearch, readHasLastChoice } from '../../src/search/index.js';
import type { CompiledSql, SearchQuery } from '../../src/search/index.js';
import type { RequestContext, TenantId } from '../../src/kernel/index.js';
import type { ResourceReader, StoredResource } from '../../src/store/index.js';
import { createHasLastMemo } from '../../src/store/has-last-memo.js';
import { createSearchRunner } from '../../src/store/search-runner.js';
import { createTestDb } from '../support/db.js';
import { PATIENT_TOKEN_BACKFILL_SQL } from '../../src/store/patient-token-rows.js';
import { PATIENT_KEYED_TOKEN_PARAMS } from '../../src/search/patient-token.js';
import type { TestDb } from '../support/db.js';

/**
 * `_has` probed last (src/search/has-last.ts) on index tables of some size:
 * 3,000 patients, 600 of them sharing the family name `common`; every patient
 * has an Observation of code `every` and one of code `c<n>` (30 per code).
 * The has-last page must give the same rows in the same order as the default
 * statement, probe only until the page is full, and be chosen only when the
 * planner estimates the candidates as the smaller side.
 */
const patients = 3_000;
let t: TestDb;
let fhir: FhirDefinitions;

before(async () => {
  fhir = createFhirDefinitions();
  t = await createTestDb();
  const d = "'default'";
  const q = (sql: string) => t.db.query(sql);
  await q(`INSERT INTO resource SELECT ${d}, 'Patient', 'p' || lpad(g::text, 5, '0'), 1, now(), false, NULL FROM generate_series(1, ${patients}) g`);
  await q(`INSERT INTO idx_string (tenant_id, resource_type, resource_id, param, value_norm, value_exact)
    SELECT ${d}, 'Patient', 'p' || lpad(g::text, 5, '0'), 'family', f, f FROM (SELECT g, CASE WHEN g % 5 = 0 THEN 'common' ELSE 'fam' || g END AS f FROM generate_series(1, ${patients}) g) s`);
  await q(`INSERT INTO resource SELECT ${d}, 'Observation', 'o' || g, 1, now(), false, NULL FROM generate_series(1, ${2 * patients}) g`);
  // Observation o<g> belongs to patient ((g - 1) % 3000) + 1: o1..o3000 have code `every`, o3001..o6000 code c<g % 100>.
  await q(`INSERT INTO idx_reference (tenant_id, resource_type, resource_id, param, target_type, target_id)
    SELECT ${d}, 'Observation', 'o' || g, 'patient', 'Patient', 'p' || lpad((((g - 1) % ${patients}) + 1)::text, 5, '0') FROM generate_series(1, ${2 * patients}) g`);
  await q(`INSERT INTO idx_token (tenant_id, resource_type, resource_id, param, system, code)
    SELECT ${d}, 'Observation', 'o' || g, 'code', 'http://loinc.org', CASE WHEN g <= ${patients} THEN 'every' ELSE 'c' || (g % 100) END FROM generate_series(1, ${2 * patients}) g`);
  await t.db.query(PATIENT_TOKEN_BACKFILL_SQL, [[...PATIENT_KEYED_TOKEN_PARAMS]]);
  await q('ANALYZE');
});
after(async () => {
  await t?.drop();
});

function parse(type: string, query: string): SearchQuery {
  return parseSearch(type, [...new URLSearchParams(query)], fhir.registry, { strict: true });
}

async function ids(query: SearchQuery, hasLast: boolean): Promise<string[]> {
  const { sql, params } = compileSearch(query, 'default', { hasLast });
  return (await t.db.query<{ id: string }>(sql, params)).rows.map((r) => r.id);
}

async function chooses(query: SearchQuery): Promise<boolean> {
  const estimate = compileHasLastEstimate(query, 'default');
  assert.ok(estimate, 'the query qualifies');
  return readHasLastChoice((await t.db.query(estimate.sql, estimate.params)).rows);
}

interface AnalyzedNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  'Actual Loops'?: number;
  'Actual Rows'?: number;
  Plans?: AnalyzedNode[];
}

async function analyzed(query: SearchQuery, hasLast: boolean): Promise<AnalyzedNode[]> {
  const { sql, params } = compileSearch(query, 'default', { hasLast });
  const res = await t.db.query<{ 'QUERY PLAN': [{ Plan: AnalyzedNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
  const nodes: AnalyzedNode[] = [];
  const walk = (n: AnalyzedNode) => {
    nodes.push(n);
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(res.rows[0]!['QUERY PLAN'][0].Plan);
  return nodes;
}

/** How many times the `_has` probe (the token index, inside the semi-join) ran. */
async function probes(query: SearchQuery, hasLast: boolean): Promise<number> {
  const nodes = await analyzed(query, hasLast);
  return nodes.reduce((sum, n) => sum + (n['Index Name']?.startsWith('idx_token') ? (n['Actual Loops'] ?? 0) : 0), 0);
}

/** Rows read from `resource`, by any scan (rows per loop × loops). */
async function resourceRowsRead(query: SearchQuery, hasLast: boolean): Promise<number> {
  const nodes = await analyzed(query, hasLast);
  return nodes.reduce((sum, n) => sum + (n['Relation Name'] === 'resource' ? (n['Actual Rows'] ?? 0) * (n['Actual Loops'] ?? 0) : 0), 0);
}

test('a broad _has behind a narrow criterion is probed last, and stops after one page', async () => {
  const query = parse('Patient', 'family=common&_has:Observation:patient:code=http://loinc.org|every');
  assert.equal(await chooses(query), true, 'candidates (600) are estimated below the _has set (3,000)');
  const page = await ids(query, true);
  assert.deepEqual(page, await ids(query, false), 'same rows, same order');
  assert.equal(page.length, query.count + 1);
  // Every candidate matches: the default statement probes all 600, the has-last one only until count + 1 matched.
  const last = await probes(query, true);
  const first = await probes(query, false);
  assert.ok(last <= query.count + 1, `has-last probed ${last} times`);
  assert.ok(first >= 600, `the default statement probed ${first} times`);
});

test('has-last candidates come from the index rows alone: only probed candidates read their resource row', async () => {
  const query = parse('Patient', 'family=common&_has:Observation:patient:code=http://loinc.org|every');
  const rowReads = await resourceRowsRead(query, true);
  assert.ok(rowReads <= query.count + 1, `has-last read ${rowReads} resource rows for a page of ${query.count + 1}`);
  // A criterion that needs the row (_lastUpdated) keeps the row-filtered candidates, with the same page.
  const withRow = parse('Patient', 'family=common&_lastUpdated=gt2000-01-01&_has:Observation:patient:code=http://loinc.org|every');
  assert.deepEqual(await ids(withRow, true), await ids(withRow, false));
  assert.deepEqual(await ids(withRow, true), await ids(query, true));
});

test('a deleted resource is never a has-last match, even if index rows outlived it', async () => {
  // The store removes a deleted resource's index rows; this keeps them, so only the row's `deleted` flag can exclude it.
  await t.db.query("UPDATE resource SET deleted = true WHERE resource_type = 'Patient' AND id = 'p00005'");
  try {
    const query = parse('Patient', 'family=common&_has:Observation:patient:code=http://loinc.org|every');
    const page = await ids(query, true);
    assert.ok(!page.includes('p00005'), 'the deleted patient is left out');
    assert.deepEqual(page, await ids(query, false));
  } finally {
    await t.db.query("UPDATE resource SET deleted = false WHERE resource_type = 'Patient' AND id = 'p00005'");
  }
});

test('has-last pages agree with the default statement at every offset, also when few candidates match', async () => {
  for (const q of [
    'family=common&_has:Observation:patient:code=http://loinc.org|every',
    'family=common&_has:Observation:patient:code=http://loinc.org|c5',
    'family=fam7,common&_has:Observation:patient:code=http://loinc.org|c7,every',
  ]) {
    for (const offset of [0, 20, 580, 600, 3000]) {
      const query = { ...parse('Patient', q), offset };
      assert.deepEqual(await ids(query, true), await ids(query, false), `${q} offset ${offset}`);
    }
  }
});

test('a selective _has keeps the default statement, which drives from it', async () => {
  // One Observation by id: the planner estimates one row against 600 candidates.
  assert.equal(await chooses(parse('Patient', 'family=common&_has:Observation:patient:_id=o15')), false);
  const query = parse('Patient', 'family=common&_has:Observation:patient:_id=o15');
  assert.deepEqual(await ids(query, true), ['p00015']);
  assert.deepEqual(await ids(query, false), ['p00015']);
});

test('only queries with a _has, another narrowing criterion and the default order qualify', () => {
  assert.equal(compileHasLastEstimate(parse('Patient', '_has:Observation:patient:code=every'), 'default'), null, 'nothing else narrows');
  assert.equal(compileHasLastEstimate(parse('Patient', 'family=common'), 'default'), null, 'no _has');
  assert.equal(compileHasLastEstimate(parse('Patient', 'family=common&_has:Observation:patient:code=every&_sort=birthdate'), 'default'), null, 'explicit order');
  const alone = parse('Patient', '_has:Observation:patient:code=every');
  assert.equal(compileSearch(alone, 'default', { hasLast: true }).sql, compileSearch(alone, 'default').sql, 'hasLast is ignored when the query does not qualify');
});

test('readHasLastChoice reads the Append of the estimate plan, and says no to anything else', () => {
  const plan = (rows: number[]) => [{ 'QUERY PLAN': [{ Plan: { 'Node Type': 'Append', 'Plan Rows': 0, Plans: rows.map((r) => ({ 'Node Type': 'Index Scan', 'Plan Rows': r })) } }] }];
  assert.equal(readHasLastChoice(plan([33, 20_000])), true);
  assert.equal(readHasLastChoice(plan([10_000, 1])), false);
  assert.equal(readHasLastChoice(plan([50, 40_000, 40])), false, 'the smallest _has set counts');
  assert.equal(readHasLastChoice([{ 'QUERY PLAN': JSON.stringify(plan([5, 6])[0]!['QUERY PLAN']) }]), true, 'plan given as JSON text');
  assert.equal(readHasLastChoice([{ 'QUERY PLAN': [{ Plan: { 'Node Type': 'Result', 'Plan Rows': 0 } }] }]), false);
  assert.equal(readHasLastChoice([]), false);
});

test('the search runner asks the planner once for a search and its next pages, again for other values or once the choice expires', async () => {
  let now = 0;
  const runner = createSearchRunner({
    registry: fhir.registry,
    normalize: normalizeString,
    defaultCount: 20,
    maxCount: 100,
    hasLastMemo: createHasLastMemo({ ttlMs: 30_000, now: () => now }),
  });
  const sent: string[] = [];
  // The fixture's rows are index rows and bare resource rows: this reader runs the runner's statements as
  // they are and returns the page's ids, which is all the runner needs of them.
  const reader = {
    rows: async (_ctx: RequestContext, c: CompiledSql) => {
      sent.push('estimate');
      return (await t.db.query(c.sql, c.params)).rows as Record<string, unknown>[];
    },
    query: async (_ctx: RequestContext, c: CompiledSql): Promise<StoredResource[]> => {
      sent.push(c.sql.includes('CROSS JOIN LATERAL') ? 'has-last page' : 'page');
      const rows = (await t.db.query<{ id: string; last_updated: Date }>(c.sql, c.params)).rows;
      return rows.map((r) => ({ resourceType: 'Patient', id: r.id, versionId: 1, lastUpdated: r.last_updated, deleted: false, json: null }));
    },
  } as unknown as ResourceReader;
  const ctx: RequestContext = { tenant: 'default' as TenantId, requestId: 'test', principal: { subject: 'test', clientId: 'test', kind: 'system', scopes: ['system/*.cruds'] } };
  const page = async (q: string) => (await runner.search(ctx, reader, 'Patient', [...new URLSearchParams(q)] as [string, string][], { strict: true })).entries.map((r) => r.id);
  const broad = 'family=common&_has:Observation:patient:code=http://loinc.org|every';

  const first = await page(broad);
  assert.deepEqual(sent.splice(0), ['estimate', 'has-last page']);
  assert.deepEqual(first, (await ids(parse('Patient', broad), false)).slice(0, 20), 'the first page, as the default statement gives it');
  const second = await page(`${broad}&_offset=20`);
  assert.deepEqual(sent.splice(0), ['has-last page'], 'the next page reuses the choice');
  assert.deepEqual(second, (await ids({ ...parse('Patient', broad), offset: 20 }, false)).slice(0, 20));

  await page('family=common&_has:Observation:patient:_id=o15');
  assert.deepEqual(sent.splice(0), ['estimate', 'page'], 'other values, another choice: the default statement');
  await page('family=common&_has:Observation:patient:_id=o15');
  assert.deepEqual(sent.splice(0), ['page'], 'a remembered "no" holds as well');

  now += 30_000;
  await page(broad);
  assert.deepEqual(sent.splice(0), ['estimate', 'has-last page'], 'expired: the planner is asked again');
});
