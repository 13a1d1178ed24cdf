import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCount, compileEstimate, compileSearch, parseSearch, readEstimate } from '../../src/search/index.js';
import type { SearchRow } from '../../src/search/index.js';
import { createTestDb } from '../support/db.js';
import type { TestDb } from '../support/db.js';
import { loadFixture } from './fixture.js';
import { createTestRegistry } from './registry.js';

const registry = createTestRegistry();
// `ap` depends on now: fixed so the expected sets are stable.
const now = () => new Date('2020-01-01T12:00:00Z');
let t: TestDb;

before(async () => {
  t = await createTestDb();
  await loadFixture(t.db);
});
after(async () => {
  await t?.drop();
});

function query(type: string, search: string) {
  return parseSearch(type, [...new URLSearchParams(search)], registry, { now, strict: true });
}

async function ordered(type: string, search: string): Promise<string[]> {
  const { sql, params } = compileSearch(query(type, search), 'default');
  return (await t.db.query<SearchRow>(sql, params)).rows.map((r) => r.id);
}

async function ids(type: string, search: string): Promise<string[]> {
  return (await ordered(type, search)).sort();
}

type Case = [type: string, search: string, expected: string[]];

async function check(cases: Case[]): Promise<void> {
  for (const [type, search, expected] of cases) {
    assert.deepEqual(await ids(type, search), expected, `${type}?${search}`);
  }
}

test('string: starts-with on normalized, :exact, :contains, LIKE wildcards literal, tenant and deleted excluded', () =>
  check([
    ['Patient', 'family=smi', ['p1', 'p2']],
    ['Patient', 'family=SMÍ', ['p1', 'p2']],
    ['Patient', 'family=smithe', ['p2']],
    ['Patient', 'family:exact=Smith', ['p1']],
    ['Patient', 'family:exact=smith', []],
    ['Patient', 'family:exact=Smíth', ['p2']],
    ['Patient', 'family:contains=MIT', ['p1', 'p2']],
    ['Patient', 'family=o%25b', ['p4']],
    ['Patient', 'family=o_b', []],
    ['Patient', 'family=o%25', ['p4']],
    ['Patient', 'family:contains=n_x', ['p4']],
    ['Patient', 'family:contains=%25', ['p4']],
    ['Patient', 'family:contains=h_r', []],
    ['Patient', 'family=smi,jon', ['p1', 'p2', 'p3']],
    ['Patient', 'family=smi&name=john', ['p1']],
    ['Patient', 'family=smi&family=jon', []],
    ['Patient', 'family:missing=true', []],
    ['Patient', 'name:missing=true', ['p2', 'p3', 'p4']],
    ['Patient', 'name:missing=false', ['p1']],
  ]));

test('token: code, system|code, |code, system|, :not, :text, :missing', () =>
  check([
    ['Patient', 'gender=male', ['p1', 'p3']],
    ['Patient', 'gender=http://hl7.org/fhir/administrative-gender|female', ['p2']],
    ['Patient', 'gender:not=male', ['p2', 'p4']],
    ['Patient', 'gender:not=male,female', ['p4']],
    ['Patient', 'identifier=A1', ['p1', 'p2']],
    ['Patient', 'identifier=sys1|A1', ['p1']],
    ['Patient', 'identifier=|B2', ['p3']],
    ['Patient', 'identifier=|A1', []],
    ['Patient', 'identifier=sys2|', ['p2']],
    ['Patient', 'identifier:text=mr', ['p1']],
    ['Patient', 'identifier:missing=true', ['p4']],
    ['Observation', 'code=http://loinc.org|8480-6,8462-4', ['o1', 'o2', 'o3', 'o4']],
    ['Observation', 'code:text=SYSTOLIC', ['o1']],
    ['Observation', 'code:text=diastolic%20blood', ['o2']],
    ['Observation', 'code:text=blood', []],
    ['Observation', 'status:not=final', ['o2', 'o4']],
  ]));

test('reference: Type/id, bare id, :[Type], absolute URL, AND with token', () =>
  check([
    ['Patient', 'general-practitioner=Practitioner/dr1', ['p1']],
    ['Patient', 'general-practitioner=dr1', ['p1']],
    ['Patient', 'general-practitioner=Organization/dr1', []],
    ['Patient', 'general-practitioner:Organization=org1', ['p3']],
    ['Patient', 'general-practitioner:Practitioner=org1', []],
    ['Patient', 'general-practitioner=http://other.org/fhir/Practitioner/ext', ['p2']],
    ['Observation', 'patient=p1', ['o1', 'o2']],
    ['Observation', 'patient=Patient/p1&code=8480-6', ['o1']],
    ['Observation', 'subject:Group=g1', ['o4']],
    ['Observation', 'subject=Group/g1,Patient/p2', ['o3', 'o4']],
    ['Observation', 'patient:missing=true', ['o4']],
  ]));

test('date prefixes on periods straddling, open-ended and at the boundary of the day', () =>
  check([
    ['Encounter', 'date=2020-01-01', ['e1']],
    ['Encounter', 'date=eq2020-01-01', ['e1']],
    ['Encounter', 'date=ne2020-01-01', ['e2', 'e3', 'e4', 'e5']],
    ['Encounter', 'date=gt2020-01-01', ['e2', 'e3', 'e5']],
    ['Encounter', 'date=lt2020-01-01', ['e3', 'e4']],
    ['Encounter', 'date=ge2020-01-01', ['e1', 'e2', 'e3', 'e5']],
    ['Encounter', 'date=le2020-01-01', ['e1', 'e3', 'e4']],
    ['Encounter', 'date=sa2020-01-01', ['e5']],
    ['Encounter', 'date=eb2020-01-01', ['e4']],
    ['Encounter', 'date=ap2020-01-03', ['e2', 'e3', 'e5']],
    ['Encounter', 'date=2020', ['e1', 'e2', 'e5']],
    ['Encounter', 'date=2020-01', ['e1', 'e2', 'e5']],
    ['Encounter', 'date=ge2020-01-01&date=le2020-01-01', ['e1', 'e3']],
    ['Encounter', 'date=2020-01-02T00:00:00Z', ['e5']],
    ['Encounter', 'date=2020-01-02T00:00', ['e5']],
    ['Encounter', 'date=lt2020-01-01T11:00%2B01:00', ['e3', 'e4']],
    ['Encounter', 'date=lt2020-01-01T11:01%2B01:00', ['e1', 'e3', 'e4']],
    ['Encounter', 'date=sa2020-01-01T23:59:59.999Z', ['e5']],
    ['Encounter', 'date=eb2020-01-01T10:00:00.001Z', ['e4']],
    ['Encounter', 'date:missing=true', ['e6']],
    ['Encounter', 'date=lt2020-01-01,sa2020-01-01', ['e3', 'e4', 'e5']],
  ]));

test('date precision of stored values (birthdate day, month, year)', () =>
  check([
    ['Patient', 'birthdate=1980-05-15', ['p1']],
    ['Patient', 'birthdate=1980-05', ['p1', 'p2']],
    ['Patient', 'birthdate=1980', ['p1', 'p2', 'p3']],
    ['Patient', 'birthdate=1980-05-15T12:00', []],
    ['Patient', 'birthdate=ge1980-05-15', ['p1', 'p2', 'p3']],
    ['Patient', 'birthdate=gt1980-05-15', ['p2', 'p3']],
    ['Patient', 'birthdate=lt1980-05-15', ['p2', 'p3']],
    ['Patient', 'birthdate=le1980-05-14', ['p2', 'p3']],
    ['Patient', 'birthdate=sa1980-05-14', ['p1']],
    ['Patient', 'birthdate=eb1980-06', ['p1', 'p2']],
    ['Patient', 'birthdate=1980-05-15T00:00:00-01:00', []],
    ['Patient', 'birthdate:missing=true', ['p4']],
    ['Patient', 'birthdate:missing=false', ['p1', 'p2', 'p3']],
    ['Patient', 'family=smi&birthdate=1980-05', ['p1', 'p2']],
  ]));

test('number: implicit range for eq/ne, exact for the other prefixes, ap ±10%', () =>
  check([
    ['RiskAssessment', 'probability=0.4', ['r1', 'r3']],
    ['RiskAssessment', 'probability=0.40', ['r1']],
    ['RiskAssessment', 'probability=ne0.4', ['r2', 'r5']],
    ['RiskAssessment', 'probability=gt0.4', ['r2', 'r5']],
    ['RiskAssessment', 'probability=sa0.4', ['r2', 'r5']],
    ['RiskAssessment', 'probability=ge0.4', ['r1', 'r2', 'r5']],
    ['RiskAssessment', 'probability=lt0.4', ['r3', 'r5']],
    ['RiskAssessment', 'probability=eb0.4', ['r3', 'r5']],
    ['RiskAssessment', 'probability=le0.4', ['r1', 'r3', 'r5']],
    ['RiskAssessment', 'probability=ap0.4', ['r1']],
    ['RiskAssessment', 'probability=4e-1', ['r1', 'r3']],
    ['RiskAssessment', 'probability=0.4,0.45', ['r1', 'r2', 'r3', 'r5']],
    ['RiskAssessment', 'probability:missing=true', ['r4']],
  ]));

test('quantity: value with system|code, code matching code or unit', () =>
  check([
    ['Observation', 'value-quantity=120', ['o1']],
    ['Observation', 'value-quantity=100', ['o4']],
    ['Observation', 'value-quantity=gt100', ['o1', 'o4']],
    ['Observation', 'value-quantity=ne100', ['o1', 'o2', 'o3']],
    ['Observation', 'value-quantity=5.4||mg', ['o3']],
    ['Observation', 'value-quantity=100||mg', ['o4']],
    ['Observation', 'value-quantity=100|http://unitsofmeasure.org|mg', ['o4']],
    ['Observation', 'value-quantity=5.4|http://unitsofmeasure.org|mg', []],
    ['Observation', 'value-quantity=lt100|http://unitsofmeasure.org|mm[Hg]', ['o2']],
    ['Observation', 'value-quantity=ap110', ['o1', 'o4']],
    ['Observation', 'value-quantity=le80', ['o2', 'o3']],
    ['Observation', 'value-quantity=ge120', ['o1']],
    ['Observation', 'value-quantity=eb80', ['o3']],
  ]));

test('uri: equality, :below, :above; _id; _lastUpdated at microsecond boundaries', () =>
  check([
    ['Patient', '_profile=http://x.org/fhir/StructureDefinition/us-core-patient', ['p1']],
    ['Patient', '_profile=http://x.org/fhir/StructureDefinition/us-core', []],
    ['Patient', '_profile:below=http://x.org/fhir', ['p1', 'p2']],
    ['Patient', '_profile:above=http://x.org/fhir/StructureDefinition/us-core-patient/extra', ['p1']],
    ['Patient', '_id=p1,p3,p5', ['p1', 'p3']],
    ['Patient', '_id:not=p1,p3', ['p2', 'p4']],
    ['Patient', '_id=p1&family=jon', []],
    ['Patient', '_lastUpdated=2024-01-01', ['p1']],
    ['Patient', '_lastUpdated=2024-01-01T00:00:00.000Z', ['p1']],
    ['Patient', '_lastUpdated=gt2024-01-01T00:00:00.000Z', ['p2']],
    ['Patient', '_lastUpdated=lt2024-01-01T00:00:00.001Z', ['p1', 'p3', 'p4']],
    ['Patient', '_lastUpdated=ge2024-01-01', ['p1', 'p2']],
  ]));

test('sort: dates by min(low) ascending / max(high) descending, missing last, multi-key, id tie-break', async () => {
  assert.deepEqual(await ordered('Encounter', '_sort=date'), ['e4', 'e3', 'e1', 'e2', 'e5', 'e6']);
  assert.deepEqual(await ordered('Encounter', '_sort=-date'), ['e3', 'e2', 'e5', 'e1', 'e4', 'e6']);
  assert.deepEqual(await ordered('Encounter', 'date=ge2020-01-01&_sort=-date'), ['e3', 'e2', 'e5', 'e1']);
  assert.deepEqual(await ordered('Patient', '_sort=gender,-birthdate'), ['p2', 'p3', 'p1', 'p4']);
  assert.deepEqual(await ordered('Patient', '_sort=family'), ['p3', 'p4', 'p1', 'p2']);
  // p2 also has 'Smithers': its largest value sorts it first descending.
  assert.deepEqual(await ordered('Patient', '_sort=-family'), ['p2', 'p1', 'p4', 'p3']);
  assert.deepEqual(await ordered('Patient', '_sort=-_lastUpdated,-_id'), ['p2', 'p1', 'p4', 'p3']);
  assert.deepEqual(await ordered('Observation', '_sort=-value-quantity'), ['o1', 'o4', 'o2', 'o3']);
  assert.deepEqual(await ordered('Observation', '_sort=subject,code'), ['o4', 'o2', 'o1', 'o3']);
  assert.deepEqual(await ordered('Patient', ''), ['p1', 'p2', 'p3', 'p4']);
});

test('sort driven by the index of a searched parameter gives the same order as the general form', async () => {
  const pairs: [string, string, string, string[]][] = [
    ['Encounter', 'date=ge2020-01-01&_sort=-date', '_sort=-date', ['e3', 'e2', 'e5', 'e1']],
    ['Encounter', 'date=ge2020-01-01&_sort=date', '_sort=date', ['e3', 'e1', 'e2', 'e5']],
    ['RiskAssessment', 'probability=ge0&_sort=-probability', '_sort=-probability', ['r2', 'r5', 'r1', 'r3']],
    ['RiskAssessment', 'probability=ge0&_sort=probability', '_sort=probability', ['r5', 'r3', 'r1', 'r2']],
    ['Patient', 'family=s,j,o&_sort=-family', '_sort=-family', ['p2', 'p1', 'p4', 'p3']],
    ['Patient', 'family=s,j,o&_sort=family,-_id', '_sort=family,-_id', ['p3', 'p4', 'p2', 'p1']],
    ['Patient', 'family=s,j,o&_sort=family&_count=2&_offset=2', '_sort=family', ['p1', 'p2']],
  ];
  for (const [type, driven, general, expected] of pairs) {
    assert.match(compileSearch(query(type, driven), 'default').sql, /JOIN resource r/, driven);
    assert.doesNotMatch(compileSearch(query(type, general), 'default').sql, /JOIN resource r/, general);
    assert.deepEqual(await ordered(type, driven), expected, driven);
    const all = await ordered(type, general);
    assert.deepEqual(all.filter((id) => expected.includes(id)), expected, general);
  }
  // :missing and :not criteria do not guarantee a value, so they keep the general form.
  assert.doesNotMatch(compileSearch(query('Encounter', 'date:missing=false&_sort=date'), 'default').sql, /JOIN resource r/);
  assert.deepEqual(await ordered('RiskAssessment', '_sort=-probability'), ['r2', 'r5', 'r1', 'r3', 'r4']);
});

test('paging: LIMIT count+1 reveals a next page; pages are stable and complete', async () => {
  const all = await ordered('Patient', '_sort=family');
  const page1 = await ordered('Patient', '_sort=family&_count=2');
  const page2 = await ordered('Patient', '_sort=family&_count=2&_offset=2');
  const page3 = await ordered('Patient', '_sort=family&_count=2&_offset=4');
  assert.deepEqual(page1, all.slice(0, 3));
  assert.deepEqual(page2, all.slice(2, 4));
  assert.deepEqual(page3, []);
  assert.deepEqual([...page1.slice(0, 2), ...page2], all);
});

test('count and estimate', async () => {
  const q = query('Patient', 'family=smi');
  const count = compileCount(q, 'default');
  assert.deepEqual((await t.db.query<{ total: string }>(count.sql, count.params)).rows, [{ total: '2' }]);
  const estimate = compileEstimate(q, 'default');
  const n = readEstimate((await t.db.query(estimate.sql, estimate.params)).rows);
  assert.ok(Number.isInteger(n) && n >= 1, `estimate ${n}`);
  const other = compileCount(query('Patient', 'family=smi'), 'other');
  assert.deepEqual((await t.db.query<{ total: string }>(other.sql, other.params)).rows, [{ total: '1' }]);
});

test('rows carry id, version, lastUpdated and content', async () => {
  const { sql, params } = compileSearch(query('Patient', '_id=p1'), 'default');
  const [row] = (await t.db.query<SearchRow>(sql, params)).rows;
  assert.equal(row?.id, 'p1');
  assert.equal(String(row?.version_id), '1');
  assert.ok(row?.last_updated instanceof Date);
  assert.equal(row?.content?.toString(), '{"id":"p1"}');
});

test('driven date sort: a resource matches through a row other than the one it sorts by', async () => {
  // Tenant of its own so the shared fixture's expectations stay as they are.
  const tenant = 'row-first';
  const rows: [string, string, string][] = [
    // x1 matches ge2021-06-01 only through its first row (low on the day); its second row ends later but starts in 2000.
    ['x1', '2021-06-01T10:00:00Z', '2021-06-01T12:00:00Z'],
    ['x1', '2000-01-01T00:00:00Z', '2021-06-01T13:00:00Z'],
    // x2 overlaps the day but neither starts on it nor ends after it: no match for ge (R4: the range above the value).
    ['x2', '2021-05-01T00:00:00Z', '2021-06-01T20:00:00Z'],
    ['x3', '2021-07-01T00:00:00Z', '2021-07-02T00:00:00Z'],
    ['x4', '2021-03-01T00:00:00Z', '2021-03-02T00:00:00Z'],
  ];
  for (const id of ['x1', 'x2', 'x3', 'x4']) {
    await t.db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, deleted, content) VALUES ($1, 'Encounter', $2, 1, now(), false, NULL)`, [tenant, id]);
  }
  for (const [id, low, high] of rows) {
    await t.db.query(`INSERT INTO idx_date (tenant_id, resource_type, resource_id, param, low, high) VALUES ($1, 'Encounter', $2, 'date', $3, $4)`, [tenant, id, low, high]);
  }
  const run = async (search: string) => {
    const { sql, params } = compileSearch(query('Encounter', search), tenant);
    return (await t.db.query<SearchRow>(sql, params)).rows.map((r) => r.id);
  };
  assert.match(compileSearch(query('Encounter', 'date=ge2021-06-01&_sort=-date'), tenant).sql, /OR EXISTS/);
  // Sorted by each resource's latest end (x1: 13:00 from the row that does not match); x4 ends before the day.
  assert.deepEqual(await run('date=ge2021-06-01&_sort=-date'), ['x3', 'x1']);
  // Ascending by earliest start: x1 sorts by its 2000 row, which does not match either.
  assert.deepEqual(await run('date=ge2021-06-01&_sort=date'), ['x1', 'x3']);
  assert.deepEqual(await run('date=lt2021-06-01&_sort=date'), ['x1', 'x4', 'x2']);
  // LIMIT count+1: the third row tells the runner a next page exists.
  assert.deepEqual(await run('date=ge2021-06-01,lt2021-03-02&_sort=-date&_count=2'), ['x3', 'x1', 'x4']);
});
