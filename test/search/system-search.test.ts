import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ids, loadExamples, type Loaded } from './include-fixture.js';

/** System-level search (`GET /fhir?_type=…`) over HL7's R4 examples: common parameters, one order and paging across types. */
let h: Loaded;
before(async () => {
  h = await loadExamples();
});
after(async () => {
  await h?.close();
});

const key = (r: { resourceType: string; id: string }) => `${r.resourceType}/${r.id}`;

test('_type with _id: matches of both types, sorted by id across types', async () => {
  const page = await h.system(['Patient', 'Practitioner'], '_id=example,f001,f201,f202&_sort=_id');
  assert.deepEqual(page.entries.map(key), [
    'Patient/example', 'Practitioner/example', 'Patient/f001', 'Practitioner/f001', 'Patient/f201', 'Practitioner/f201', 'Practitioner/f202',
  ]);
  const desc = await h.system(['Patient', 'Practitioner'], '_id=example,f001&_sort=-_id');
  assert.deepEqual(desc.entries.map(key), ['Patient/f001', 'Practitioner/f001', 'Patient/example', 'Practitioner/example']);
});

test('paging across types: pages concatenate to the whole result; totals add up', async () => {
  const all = await h.system(['Patient', 'Practitioner', 'Organization'], '_id=example,f001,f201,f202,1&_sort=_id&_total=accurate');
  assert.equal(all.total, 10);
  const seen: string[] = [];
  for (let offset = 0; offset < 10; offset += 2) {
    const page = await h.system(['Patient', 'Practitioner', 'Organization'], `_id=example,f001,f201,f202,1&_sort=_id&_count=2&_offset=${offset}`);
    assert.equal(page.hasMore, offset + 2 < 10);
    seen.push(...page.entries.map(key));
  }
  assert.deepEqual(seen, all.entries.map(key));
  assert.deepEqual(seen.slice(0, 4), ['Organization/1', 'Patient/example', 'Practitioner/example', 'Organization/f001']);
});

test('only parameters common to every type apply; others are ignored (lenient) or refused (strict)', async () => {
  const lenient = await h.system(['Patient', 'Observation'], '_id=f001&family=Bor', { strict: false });
  assert.deepEqual(ids(lenient.entries), ['Observation/f001', 'Patient/f001']);
  assert.deepEqual(lenient.unknown, ['family']);
  await assert.rejects(h.system(['Patient', 'Observation'], '_id=f001&family=Bor'), /Unknown search parameter/);
});

test('_include and _summary=count in a system search', async () => {
  const page = await h.system(['Observation', 'Practitioner'], '_id=f206,f202&_include=Observation:subject');
  assert.deepEqual(ids(page.entries), ['Observation/f202', 'Observation/f206', 'Practitioner/f202']);
  assert.deepEqual(ids(page.included), ['Patient/f201']);
  const counted = await h.system(['Observation', 'Practitioner'], '_id=f206,f202&_summary=count');
  assert.deepEqual(counted.entries, []);
  assert.equal(counted.total, 3);
});

test('_contained: false is the default; bad values of _contained and _containedType are refused', async () => {
  assert.equal((await h.search('Patient', '_id=f001&_contained=false&_containedType=container')).entries.length, 1);
  // Contained searches themselves: test/http/search-contained.test.ts.
  await assert.rejects(h.search('Patient', '_contained=maybe'), /expected true, false or both/);
  await assert.rejects(h.search('Patient', '_containedType=inside'), /expected container or contained/);
  await assert.rejects(h.search('Patient', '_contained=true&_id=f001'), /SEARCH_UNSUPPORTED_PARAM|not supported/);
});
