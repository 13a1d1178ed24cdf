import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFhirDefinitions, normalizeString, readCoreResources } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';
import { compileSearch, parseSearch } from '../../src/search/index.js';
import type { SearchRow } from '../../src/search/index.js';
import { createIndexWriter } from '../../src/store/index-writer.js';
import { createTestDb } from '../support/db.js';
import type { TestDb } from '../support/db.js';
import { edgeCases } from './conformance-data.js';
import { examplesDir } from './conformance-fixture.js';

/**
 * Union parameters (src/fhir/union-params.ts) answered from their sources'
 * rows, and whole-resource composites (src/fhir/resource-composites.ts) from
 * their components' parameters' rows, must give exactly what their own rows
 * gave. The same Observations are indexed twice in one database: tenant
 * `union` as the server indexes them (no `combo-*` or `code-value-quantity$k`
 * rows), tenant `own` with both switched off (every parameter keeps its own
 * rows, as before). Every query must return the same ids in the same order
 * from both.
 */
let t: TestDb;
const union = createFhirDefinitions();
const own = createFhirDefinitions({ ownRows: () => true });

const observations = [...readCoreResources('Observation', examplesDir()), ...edgeCases.filter((r) => r['resourceType'] === 'Observation')];

before(async () => {
  t = await createTestDb();
  const writer = createIndexWriter({ normalize: normalizeString });
  await t.db.transaction(async (tx) => {
    for (const [tenant, fhir] of [['union', union], ['own', own]] as const) {
      for (const r of observations) {
        await tx.query(`INSERT INTO resource VALUES ($1, 'Observation', $2, 1, now(), false, NULL)`, [tenant, r['id']]);
        await writer.insert(tx, tenant, [{ resourceType: 'Observation', id: String(r['id']), values: fhir.indexer.extract(r) }]);
      }
    }
  });
  await t.db.query('ANALYZE');
});
after(async () => {
  await t?.drop();
});

async function ids(tenant: string, fhir: FhirDefinitions, query: string): Promise<string[]> {
  const q = parseSearch('Observation', [...new URLSearchParams(query)], fhir.registry, { strict: true, maxCount: 1000 });
  const { sql, params } = compileSearch({ ...q, count: 1000 }, tenant);
  return (await t.db.query<SearchRow>(sql, params)).rows.map((r) => r.id);
}

/** The resource types other than Observation with a parameter `derived` answers for (its sources or components). */
function otherTypesWith(derived: (type: string, code: string) => readonly string[] | undefined): string[] {
  return [...union.resourceTypes].filter((type) => type !== 'Observation' && union.registry.forType(type).some((d) => derived(type, d.code)));
}

test('R4 unions: the Observation combo parameters, each from the parameters whose rows it repeats', () => {
  const r = union.registry;
  assert.deepEqual(r.rowParams('Observation', 'combo-code'), ['code', 'component-code']);
  assert.deepEqual(r.rowParams('Observation', 'combo-value-quantity'), ['component-value-quantity', 'value-quantity']);
  assert.deepEqual(r.rowParams('Observation', 'combo-value-concept'), ['component-value-concept', 'value-concept']);
  assert.deepEqual(r.rowParams('Observation', 'combo-data-absent-reason'), ['component-data-absent-reason', 'data-absent-reason']);
  // Composites: only sources with the same component kinds and expressions (not code-value-concept for a quantity).
  assert.deepEqual(r.rowParams('Observation', 'combo-code-value-quantity'), ['code-value-quantity', 'component-code-value-quantity']);
  assert.deepEqual(r.rowParams('Observation', 'combo-code-value-concept'), ['code-value-concept', 'component-code-value-concept']);
  assert.equal(r.rowParams('Observation', 'code'), undefined);
  // A reference union would be read by includes and chains by name: never one. `patient` is not a union of anything.
  assert.equal(r.rowParams('Observation', 'patient'), undefined);
  // No other R4 type has one.
  assert.deepEqual(otherTypesWith((type, code) => r.rowParams(type, code)), []);
  // A blind-indexed member keeps the whole union on its own rows.
  const guarded = createFhirDefinitions({ ownRows: (type, code) => type === 'Observation' && code === 'component-code' });
  assert.equal(guarded.registry.rowParams('Observation', 'combo-code'), undefined);
  assert.deepEqual(guarded.registry.rowParams('Observation', 'combo-value-quantity'), ['component-value-quantity', 'value-quantity']);
});

test('whole-resource composites: the Observation code-value composites whose components are other parameters exactly', () => {
  const r = union.registry;
  assert.deepEqual(r.componentRows('Observation', 'code-value-quantity'), ['code', 'value-quantity']);
  assert.deepEqual(r.componentRows('Observation', 'code-value-concept'), ['code', 'value-concept']);
  // value.as(DateTime) | value.as(Period) is two terms; value-string also indexes valueCodeableConcept.text.
  assert.equal(r.componentRows('Observation', 'code-value-date'), undefined);
  assert.equal(r.componentRows('Observation', 'code-value-string'), undefined);
  // Over Observation.component the group says which component a code and a value came from.
  assert.equal(r.componentRows('Observation', 'component-code-value-quantity'), undefined);
  assert.equal(r.componentRows('Observation', 'code'), undefined);
  assert.deepEqual(otherTypesWith((type, code) => r.componentRows(type, code)), []);
  // A blind-indexed component parameter keeps the composite on its own rows.
  const guarded = createFhirDefinitions({ ownRows: (type, code) => type === 'Observation' && code === 'value-concept' });
  assert.equal(guarded.registry.componentRows('Observation', 'code-value-concept'), undefined);
  assert.deepEqual(guarded.registry.componentRows('Observation', 'code-value-quantity'), ['code', 'value-quantity']);
});

test('unions and whole-resource composites get no index rows; with both off they get their own', async () => {
  const count = async (tenant: string, pattern: string) =>
    Number((await t.db.query<{ n: string }>(`SELECT (SELECT count(*) FROM idx_token WHERE tenant_id = $1 AND param LIKE $2) + (SELECT count(*) FROM idx_quantity WHERE tenant_id = $1 AND param LIKE $2) AS n`, [tenant, pattern])).rows[0]!.n);
  for (const pattern of ['combo-%', 'code-value-quantity$%', 'code-value-concept$%']) {
    assert.equal(await count('union', pattern), 0, pattern);
    assert.ok((await count('own', pattern)) > 10, `the tenant with both off holds ${pattern} rows`);
  }
});

const queries = [
  'combo-code=8480-6', // a component code (blood pressure)
  'combo-code=http://loinc.org|85354-9', // the panel's own code
  'combo-code=http://loinc.org|29463-7,8462-4',
  'combo-code=http://loinc.org|',
  'combo-code:not=8480-6',
  'combo-code:missing=false',
  'combo-code:missing=true',
  'combo-code:text=blood',
  'combo-code=8480-6&combo-code=8462-4',
  'combo-value-quantity=gt100',
  'combo-value-quantity=5.4|http://unitsofmeasure.org|mg',
  'combo-value-quantity=le90|http://unitsofmeasure.org|mm[Hg]',
  'combo-value-quantity:missing=true',
  'combo-value-concept:missing=false',
  'combo-data-absent-reason:missing=false',
  'combo-code-value-quantity=8480-6$gt100',
  'combo-code-value-quantity=2345-7$gt50,8462-4$lt80',
  'combo-code-value-quantity=http://loinc.org|29463-7$gt180',
  'combo-code-value-concept=883-9$112144000', // the Observation's own code and value (rhstatus, bloodgroup)
  'combo-code-value-concept=32401-2$LA6724-4,249227004$LA6723-6', // components (Apgar scores)
  'combo-value-concept=LA6721-0',
  'code-value-quantity=8480-6$gt100', // a component's code: never a whole-resource pair
  'code-value-quantity=http://loinc.org|29463-7$gt180', // body weight, in lb and kg
  'code-value-quantity=http://loinc.org|29463-7$ge185|http://unitsofmeasure.org|[lb_av]',
  'code-value-quantity=15074-8$gt5,2339-0$lt200,29463-7$lt10',
  'code-value-quantity=http://loinc.org|$gt0', // any LOINC code with any positive value
  'code-value-quantity=29463-7$gt180&code-value-quantity=3141-9$gt80', // both pairs on one resource
  'code-value-concept=883-9$112144000',
  'code-value-concept=883-9$http://snomed.info/sct|112144000,32401-2$LA6724-4',
  'code-value-concept=http://loinc.org|$LA6721-0',
  'code-value-concept=32401-2$LA6724-4', // an Apgar component's: never a whole-resource pair
  'code=29463-7&code-value-quantity=29463-7$gt1&_sort=-value-quantity',
  'combo-code:missing=false&_sort=combo-code',
  'combo-code:missing=false&_sort=-combo-code',
  'combo-value-quantity:missing=false&_sort=combo-value-quantity,_id',
  'combo-value-quantity:missing=false&_sort=-combo-value-quantity',
];

test('every union and whole-resource composite query returns the same ids, in the same order, as the parameter’s own rows did', async () => {
  let nonEmpty = 0;
  for (const q of queries) {
    const fromSources = await ids('union', union, q);
    assert.deepEqual(fromSources, await ids('own', own, q), q);
    if (fromSources.length > 0) nonEmpty++;
  }
  // The comparison means something only where rows match: all but the two :missing=true queries and the
  // two component pairs asked of whole-resource composites find some.
  assert.ok(nonEmpty >= queries.length - 4, `${nonEmpty} of ${queries.length} queries found anything`);
});
