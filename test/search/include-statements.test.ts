import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FhirResource } from '../../src/store/index.js';
import { ids, loadExamples, type Loaded } from './include-fixture.js';

/**
 * No N+1: a page of 50 matches with _include and _revinclude costs one
 * statement for the page and one per include round, counted at the database
 * client the store uses.
 */
const N = 50;
const own: FhirResource[] = [];
for (let i = 0; i < N; i++) {
  own.push({ resourceType: 'Patient', id: `np-${i}` });
  own.push({
    resourceType: 'Observation', id: `no-${i}`, status: 'final',
    code: { coding: [{ system: 'http://haven.test', code: 'n1' }] }, subject: { reference: `Patient/np-${i}` },
    ...(i > 0 ? { hasMember: [{ reference: `Observation/no-${i - 1}` }] } : {}),
  });
  own.push({
    resourceType: 'Provenance', id: `nv-${i}`, recorded: '2024-01-01T00:00:00Z',
    target: [{ reference: `Observation/no-${i}` }], agent: [{ who: { reference: `Patient/np-${i}` } }],
  });
}

let h: Loaded;
let limited: Loaded;
before(async () => {
  h = await loadExamples(own, []);
  limited = await loadExamples(own, [], 10);
});
after(async () => {
  await h?.close();
  await limited?.close();
});

test(`${N} matches with _include and _revinclude: two statements, not ${N + 1}`, async () => {
  h.statements.count = 0;
  const page = await h.search('Observation', `code=http://haven.test|n1&_count=${N}&_include=Observation:subject&_revinclude=Provenance:target`);
  assert.equal(page.entries.length, N);
  assert.equal(page.included?.length, 2 * N);
  assert.deepEqual(ids(page.included).filter((k) => k.startsWith('Patient/')).length, N);
  assert.equal(h.statements.count, 2);
});

test('iterating includes cost one statement per round, whatever the page size', async () => {
  h.statements.count = 0;
  const page = await h.search('Observation', `_id=no-${N - 1}&_include:iterate=Observation:has-member&_include:iterate=Observation:subject`);
  // no-49 → no-48 … : 3 iterations after the first round reach no-45; subjects follow one round behind.
  assert.deepEqual(ids(page.included), [
    'Observation/no-45', 'Observation/no-46', 'Observation/no-47', 'Observation/no-48',
    'Patient/np-46', 'Patient/np-47', 'Patient/np-48', 'Patient/np-49',
  ]);
  assert.equal(h.statements.count, 1 + 4);
});

test('included resources beyond the limit are left out, with a warning', async () => {
  const page = await limited.search('Observation', `code=http://haven.test|n1&_count=${N}&_include=Observation:subject`);
  assert.equal(page.entries.length, N);
  assert.equal(page.included?.length, 10);
  assert.deepEqual(page.warnings, ['Included resources were limited to 10']);
  const within = await limited.search('Observation', `_id=no-1,no-2&_include=Observation:subject`);
  assert.deepEqual(within.warnings, []);
});
