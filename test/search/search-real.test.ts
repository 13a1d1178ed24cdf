import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFhirDefinitions, normalizeString, readCoreResources } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';
import { compileCount, compileSearch, parseSearch } from '../../src/search/index.js';
import type { SearchRow } from '../../src/search/index.js';
import { createIndexWriter } from '../../src/store/index-writer.js';
import { createTestDb } from '../support/db.js';
import type { TestDb } from '../support/db.js';

/**
 * End to end with the real R4 registry and extraction: HL7's example
 * resources are indexed by src/fhir, searched here, and the results compared
 * with an independent JavaScript reading of the same resources.
 */
interface Example {
  resourceType: string;
  id: string;
  name?: { family?: string }[];
  subject?: { reference?: string };
  code?: { coding?: { system?: string; code?: string }[] };
  status?: string;
}

let fhir: FhirDefinitions;
let t: TestDb;
const examples: Example[] = [];

before(async () => {
  fhir = createFhirDefinitions();
  t = await createTestDb();
  const writer = createIndexWriter({ normalize: normalizeString });
  for (const type of ['Patient', 'Observation', 'Encounter']) examples.push(...readCoreResources<Example>(type));
  await t.db.transaction(async (tx) => {
    for (const r of examples) {
      await tx.query(`INSERT INTO resource VALUES ('default', $1, $2, 1, now(), false, NULL)`, [r.resourceType, r.id]);
      await writer.insert(tx, 'default', [{ resourceType: r.resourceType, id: r.id, values: fhir.indexer.extract(r) }]);
    }
  });
});
after(async () => {
  await t?.drop();
});

async function search(type: string, params: string): Promise<string[]> {
  const q = parseSearch(type, [...new URLSearchParams(params)], fhir.registry, { strict: true, maxCount: 1000 });
  const { sql, params: values } = compileSearch({ ...q, count: 1000 }, 'default');
  return (await t.db.query<SearchRow>(sql, values)).rows.map((r) => r.id).sort();
}

function oracle(type: string, keep: (r: Example) => boolean): string[] {
  return examples.filter((r) => r.resourceType === type && keep(r)).map((r) => r.id).sort();
}

test('Patient?family= matches the normalized starts-with of any family name', async () => {
  for (const prefix of ['cha', 'Chalmers', 'don', 'VAN', 'x']) {
    const expected = oracle('Patient', (r) => (r.name ?? []).some((n) => normalizeString(n.family ?? '').startsWith(normalizeString(prefix))));
    assert.deepEqual(await search('Patient', `family=${prefix}`), expected, prefix);
  }
});

test('Observation?subject=…&code=system|code matches the reference and the coding', async () => {
  const hasCode = (r: Example, system: string, code: string) => (r.code?.coding ?? []).some((c) => c.system === system && c.code === code);
  const expected = oracle('Observation', (r) => r.subject?.reference === 'Patient/example' && hasCode(r, 'http://loinc.org', '8867-4'));
  assert.ok(expected.length > 0);
  assert.deepEqual(await search('Observation', 'subject=Patient/example&code=http://loinc.org|8867-4'), expected);
  assert.deepEqual(await search('Observation', 'patient=example&code=http://loinc.org|8867-4'), expected);
});

test('Observation?status= and :not partition the observations', async () => {
  const final = oracle('Observation', (r) => r.status === 'final');
  assert.deepEqual(await search('Observation', 'status=final'), final);
  assert.deepEqual(await search('Observation', 'status:not=final'), oracle('Observation', (r) => r.status !== 'final'));
  const q = parseSearch('Observation', [], fhir.registry);
  const { sql, params } = compileCount(q, 'default');
  assert.equal(Number((await t.db.query<{ total: string }>(sql, params)).rows[0]?.total), oracle('Observation', () => true).length);
});

test('Encounter?date=ge…&_sort=-date returns matches in descending order of their period end', async () => {
  const q = parseSearch('Encounter', [['date', 'ge2013'], ['_sort', '-date']], fhir.registry);
  const { sql, params } = compileSearch(q, 'default');
  const ids = (await t.db.query<SearchRow>(sql, params)).rows.map((r) => r.id);
  assert.ok(ids.length > 0);
  const highs = await t.db.query<{ id: string; high: number }>(
    `SELECT resource_id AS id, extract(epoch FROM max(high))::float8 AS high FROM idx_date WHERE resource_type = 'Encounter' AND param = 'date' GROUP BY resource_id`,
  );
  const byId = new Map(highs.rows.map((r) => [r.id, r.high]));
  const keys = ids.map((id) => byId.get(id)!);
  assert.deepEqual(keys, [...keys].sort((a, b) => b - a));
});
