import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFhirDefinitions } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';
import { blindQuery, compileSearch, parseProtectedParams, parseSearch } from '../../src/search/index.js';
import { createTestDb } from '../support/db.js';
import { PATIENT_TOKEN_BACKFILL_SQL } from '../../src/store/patient-token-rows.js';
import { PATIENT_KEYED_TOKEN_PARAMS } from '../../src/search/patient-token.js';
import type { TestDb } from '../support/db.js';

/**
 * Plans of chained, _has and composite searches on tables of some size
 * (20,000 patients, 60,000 observations with two BP components each, ~400k
 * index rows), compiled exactly as the server compiles them, with the
 * planner's normal settings (no enable_seqscan tricks): no sequential scan of
 * `resource` or an idx_* table may appear. bench/searches.ts checks the same
 * searches at 1M resources.
 */
const patients = 20_000;
const observations = 60_000;
let t: TestDb;
let fhir: FhirDefinitions;

async function generate(): Promise<void> {
  const d = "'default'";
  const q = (sql: string) => t.db.query(sql);
  await q(`INSERT INTO resource SELECT ${d}, 'Patient', 'p' || g, 1, now(), false, NULL FROM generate_series(1, ${patients}) g`);
  await q(`INSERT INTO resource SELECT ${d}, 'Organization', 'org' || g, 1, now(), false, NULL FROM generate_series(1, 200) g`);
  await q(`INSERT INTO resource SELECT ${d}, 'Observation', 'o' || g, 1, now(), false, NULL FROM generate_series(1, ${observations}) g`);
  await q(`INSERT INTO idx_string SELECT ${d}, 'Patient', 'p' || g, 'family', 'fam' || (g % 2000), 'Fam' || (g % 2000) FROM generate_series(1, ${patients}) g`);
  await q(`INSERT INTO idx_date SELECT ${d}, 'Patient', 'p' || g, 'birthdate', b, b + interval '1 day' - interval '1 millisecond'
    FROM (SELECT g, timestamptz '1935-01-01' + ((g::bigint * 7919) % 32850) * interval '1 day' AS b FROM generate_series(1, ${patients}) g) s`);
  await q(`INSERT INTO idx_string SELECT ${d}, 'Organization', 'org' || g, 'name', 'org' || g, 'Org' || g FROM generate_series(1, 200) g`);
  await q(`INSERT INTO idx_reference (tenant_id, resource_type, resource_id, param, target_type, target_id)
    SELECT ${d}, 'Patient', 'p' || g, 'organization', 'Organization', 'org' || (1 + g % 200) FROM generate_series(1, ${patients}) g`);
  await q(`INSERT INTO idx_reference (tenant_id, resource_type, resource_id, param, target_type, target_id)
    SELECT ${d}, 'Observation', 'o' || g, p, 'Patient', 'p' || (1 + (g * 7) % ${patients}) FROM generate_series(1, ${observations}) g, (VALUES ('patient'), ('subject')) v(p)`);
  await q(`INSERT INTO idx_token SELECT ${d}, 'Observation', 'o' || g, 'code', 'http://loinc.org', 'c' || (g % 200), NULL FROM generate_series(1, ${observations}) g`);
  // Two components per observation: systolic (group 1) and diastolic (group 2), in mm[Hg] with their canonical form.
  await q(`INSERT INTO idx_token (tenant_id, resource_type, resource_id, param, system, code, grp)
    SELECT ${d}, 'Observation', 'o' || g, 'component-code-value-quantity$0', 'http://loinc.org', c, k
    FROM generate_series(1, ${observations}) g, (VALUES (1, '8480-6'), (2, '8462-4')) v(k, c)`);
  await q(`INSERT INTO idx_quantity (tenant_id, resource_type, resource_id, param, value, low, high, system, code, unit, canon_value, canon_code, grp)
    SELECT ${d}, 'Observation', 'o' || g, 'component-code-value-quantity$1', x, x - 0.5, x + 0.5, 'http://unitsofmeasure.org', 'mm[Hg]', 'mmHg', x * 133322, 'g.m-1.s-2', k
    FROM (SELECT g, k, CASE WHEN k = 1 THEN 90 + (g * 31) % 120 ELSE 50 + (g * 17) % 60 END AS x
          FROM generate_series(1, ${observations}) g, (VALUES (1), (2)) v(k)) s`);
  // Encounters over ten years, one period each (the benchmark's date-sorted search).
  await q(`INSERT INTO resource SELECT ${d}, 'Encounter', 'e' || g, 1, now(), false, NULL FROM generate_series(1, ${observations}) g`);
  await q(`INSERT INTO idx_date SELECT ${d}, 'Encounter', 'e' || g, 'date', b, b + interval '2 hours'
    FROM (SELECT g, timestamptz '2016-01-01' + ((g::bigint * 7919) % 5256000) * interval '1 minute' AS b FROM generate_series(1, ${observations}) g) s`);
  // Blind-indexed family names (the default for Patient): only a 16-byte tag per row, 40 patients per tag.
  await q(`INSERT INTO idx_string (tenant_id, resource_type, resource_id, param, blind)
    SELECT ${d}, 'Patient', 'p' || g, 'family', substring(decode(md5('fam' || (g % 500)), 'hex') from 1 for 16) FROM generate_series(1, ${patients}) g`);
  await t.db.query(PATIENT_TOKEN_BACKFILL_SQL, [[...PATIENT_KEYED_TOKEN_PARAMS]]);
  await q('ANALYZE');
}

before(async () => {
  fhir = createFhirDefinitions();
  t = await createTestDb();
  await generate();
});
after(async () => {
  await t?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode, out: string[] = []): string[] {
  const rel = node['Relation Name'];
  if (node['Node Type'] === 'Seq Scan' && rel && (rel === 'resource' || rel.startsWith('idx_'))) out.push(rel);
  for (const child of node.Plans ?? []) seqScans(child, out);
  return out;
}

async function explain(type: string, query: string): Promise<{ scans: string[]; ms: number; rows: number }> {
  const parsed = parseSearch(type, [...new URLSearchParams(query)], fhir.registry, { strict: true });
  const { sql, params } = compileSearch(parsed, 'default');
  const res = await t.db.query<{ 'QUERY PLAN': [{ Plan: PlanNode & { 'Actual Rows': number }; 'Execution Time': number }] }>(
    `EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`,
    params,
  );
  const [plan] = res.rows[0]!['QUERY PLAN'];
  return { scans: seqScans(plan.Plan), ms: plan['Execution Time'], rows: plan.Plan['Actual Rows'] };
}

const searches: [string, string, string][] = [
  ['chain', 'Observation', 'subject:Patient.family=fam36&code=http://loinc.org|c5'],
  // The benchmark's chained search (bench/searches.ts): patients born on one day, one code. p36 (1935-01-01 + 36·7919 mod 32850 days = 1996-01-05) has c5 observations.
  ['chain on birthdate', 'Observation', 'subject:Patient.birthdate=1996-01-05&code=http://loinc.org|c5'],
  ['chain, two levels', 'Observation', 'subject:Patient.organization.name=org17'],
  ['_has', 'Patient', '_has:Observation:patient:code=http://loinc.org|c5&family=fam36'],
  ['_has alone', 'Patient', '_has:Observation:patient:code=http://loinc.org|c5'],
  ['composite', 'Observation', 'component-code-value-quantity=http://loinc.org|8480-6$gt205|http://unitsofmeasure.org|mm[Hg]'],
  ['composite UCUM', 'Observation', 'component-code-value-quantity=http://loinc.org|8462-4$lt6.8|http://unitsofmeasure.org|kPa'],
];

for (const [name, type, query] of searches) {
  test(`plan of ${name} search uses indexes only`, async () => {
    const { scans, ms, rows } = await explain(type, query);
    assert.deepEqual(scans, [], `${type}?${query}: sequential scans`);
    assert.ok(rows > 0, `${type}?${query} should find something in the synthetic data`);
    // Figures for the report (no PHI: synthetic values).
    console.log(`# plan ${name}: ${rows} rows, ${ms.toFixed(2)} ms`);
  });
}

interface AnalyzedNode extends PlanNode {
  'Index Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  Plans?: AnalyzedNode[];
}

function nodes(node: AnalyzedNode, out: AnalyzedNode[] = []): AnalyzedNode[] {
  out.push(node);
  for (const child of node.Plans ?? []) nodes(child, out);
  return out;
}

test('date-sorted search reads one page from idx_date_high_id/low_id: no sort, no parallel gather', async () => {
  for (const [query, index] of [['date=ge2019-06-01&_sort=-date', 'idx_date_high_id'], ['date=ge2019-06-01&_sort=date', 'idx_date_low_id']] as const) {
    const parsed = parseSearch('Encounter', [...new URLSearchParams(query)], fhir.registry, { strict: true });
    const { sql, params } = compileSearch(parsed, 'default');
    const res = await t.db.query<{ 'QUERY PLAN': [{ Plan: AnalyzedNode }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
    const all = nodes(res.rows[0]!['QUERY PLAN'][0].Plan);
    const types = all.map((n) => n['Node Type']);
    assert.ok(!types.some((n) => /Sort|Gather/.test(n)), `${query}: ${types.join(' > ')}`);
    const driving = all.find((n) => n['Index Name'] === index);
    assert.ok(driving, `${query} should be driven by ${index}: ${types.join(' > ')}`);
    // The scan stops after one page (count + 1 = 21 rows pass it) instead of producing every match for a sort.
    assert.equal(driving['Actual Rows'], 21, `${query}: ${driving['Actual Rows']} rows`);
  }
});

test('blind-indexed family with a birthdate: the birthdate range is read once, not once per family member', async () => {
  // The tag stands for 'fam36' (40 patients); p36 is the one born on 1996-01-05. Estimated at 1 row without
  // the statistics of migration 022, the tag drove the plan and the birthdate index was rescanned per candidate.
  const tag = () => `\\x${Buffer.from(md5Hex('fam36'), 'hex').subarray(0, 16).toString('hex')}`;
  const parsed = parseSearch('Patient', [['family', 'fam36'], ['birthdate', '1996-01-05']], fhir.registry, { strict: true });
  const { sql, params } = compileSearch(blindQuery(parsed, parseProtectedParams('default'), tag), 'default');
  const res = await t.db.query<{ 'QUERY PLAN': [{ Plan: AnalyzedNode; 'Execution Time': number }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
  const [plan] = res.rows[0]!['QUERY PLAN'];
  assert.equal(plan.Plan['Actual Rows'], 1);
  const dateScans = nodes(plan.Plan).filter((n) => n['Relation Name'] === 'idx_date');
  const read = dateScans.reduce((sum, n) => sum + ((n['Actual Rows'] ?? 0) + (n['Rows Removed by Filter'] ?? 0)) * (n['Actual Loops'] ?? 1), 0);
  assert.ok(read <= 10, `idx_date rows read: ${read} (${nodes(plan.Plan).map((n) => n['Index Name'] ?? n['Node Type']).join(' > ')})`);
  console.log(`# plan blind family + birthdate: ${read} idx_date rows read, ${plan['Execution Time'].toFixed(2)} ms`);
});

test('blind-indexed name: the tags stored under family (and given) are read through idx_string_blind', async () => {
  // Patient name's tags live under family and given (src/store/blind-rows.ts dropCoveredTags): `param = ANY(...)` must still be an index search.
  const tag = () => `\\x${Buffer.from(md5Hex('fam36'), 'hex').subarray(0, 16).toString('hex')}`;
  const parsed = parseSearch('Patient', [['name', 'fam36'], ['_count', '100']], fhir.registry, { strict: true });
  const blinded = blindQuery(parsed, parseProtectedParams('default'), tag);
  assert.deepEqual(blinded.criteria[0]!.rowParams, ['name', 'family', 'given']);
  const { sql, params } = compileSearch(blinded, 'default');
  const res = await t.db.query<{ 'QUERY PLAN': [{ Plan: AnalyzedNode; 'Execution Time': number }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
  const [plan] = res.rows[0]!['QUERY PLAN'];
  assert.equal(plan.Plan['Actual Rows'], patients / 500);
  assert.deepEqual(seqScans(plan.Plan), []);
  assert.ok(nodes(plan.Plan).some((n) => n['Index Name'] === 'idx_string_blind'), nodes(plan.Plan).map((n) => n['Index Name'] ?? n['Node Type']).join(' > '));
  console.log(`# plan blind name (rows under family): ${plan.Plan['Actual Rows']} rows, ${plan['Execution Time'].toFixed(2)} ms`);
});

function md5Hex(s: string): string {
  return createHash('md5').update(s).digest('hex');
}
