import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FhirResource } from '../../src/store/index.js';
import { MAX_INCLUDE_ITERATIONS } from '../../src/store/index.js';
import { ids, loadExamples, type Loaded } from './include-fixture.js';

/**
 * _include / _revinclude conformance over HL7's R4 examples plus own
 * resources. Expected sets were written down by reading the example files
 * (e.g. Observation-vitals-panel.json lists four hasMember references;
 * Observation-f203..f206 have performer Practitioner/f202).
 */
const obs = (id: string, extra: Record<string, unknown>): FhirResource => ({
  resourceType: 'Observation', id, status: 'final', code: { coding: [{ system: 'http://haven.test', code: 'chain' }] }, ...extra,
});
const member = (...targets: string[]) => ({ hasMember: targets.map((t) => ({ reference: `Observation/${t}` })) });
const questionnaire = (id: string, url: string, version?: string): FhirResource => ({
  resourceType: 'Questionnaire', id, url, status: 'active', ...(version ? { version } : {}),
});
const response = (id: string, canonical: string): FhirResource => ({ resourceType: 'QuestionnaireResponse', id, status: 'completed', questionnaire: canonical });

const own: FhirResource[] = [
  { resourceType: 'Patient', id: 'chain-x' },
  { resourceType: 'Patient', id: 'chain-y' },
  // a → b → c → d → e → f: deeper than the iteration bound.
  obs('chain-a', { subject: { reference: 'Patient/chain-y' }, ...member('chain-b') }),
  obs('chain-b', { subject: { reference: 'Patient/chain-x' }, ...member('chain-c') }),
  obs('chain-c', member('chain-d')),
  obs('chain-d', member('chain-e')),
  obs('chain-e', member('chain-f')),
  obs('chain-f', {}),
  // A cycle: z1 ↔ z2.
  obs('cycle-1', member('cycle-2')),
  obs('cycle-2', member('cycle-1')),
  questionnaire('qv1', 'http://haven.test/Questionnaire/v', '1'),
  questionnaire('qv2', 'http://haven.test/Questionnaire/v', '2'),
  response('qr-zika', 'http://example.org/Questionnaire/zika-virus-exposure-assessment'),
  response('qr-v', 'http://haven.test/Questionnaire/v'),
  response('qr-v2', 'http://haven.test/Questionnaire/v|2'),
];

let h: Loaded;
before(async () => {
  h = await loadExamples(own);
});
after(async () => {
  await h?.close();
});

test('_include:iterate follows has-member; a plain _include applies to the matches only', async () => {
  const page = await h.search('Observation', '_id=vitals-panel&_include:iterate=Observation:has-member&_include=Observation:subject');
  assert.deepEqual(ids(page.entries), ['Observation/vitals-panel']);
  assert.deepEqual(ids(page.included), [
    'Observation/blood-pressure', 'Observation/body-temperature', 'Observation/heart-rate', 'Observation/respiratory-rate', 'Patient/example',
  ]);
  // chain-b's subject (chain-x) is reached only when the subject include iterates too.
  const plain = await h.search('Observation', '_id=chain-a&_include:iterate=Observation:has-member&_include=Observation:subject');
  assert.deepEqual(ids(plain.included), ['Observation/chain-b', 'Observation/chain-c', 'Observation/chain-d', 'Observation/chain-e', 'Patient/chain-y']);
  const both = await h.search('Observation', '_id=chain-a&_include:iterate=Observation:has-member&_include:iterate=Observation:subject');
  assert.ok(ids(both.included).includes('Patient/chain-x'));
});

test(`iteration stops after ${MAX_INCLUDE_ITERATIONS} rounds and on cycles, listing each resource once`, async () => {
  const deep = await h.search('Observation', '_id=chain-a&_include:iterate=Observation:has-member');
  assert.equal(MAX_INCLUDE_ITERATIONS, 3);
  assert.deepEqual(ids(deep.included), ['Observation/chain-b', 'Observation/chain-c', 'Observation/chain-d', 'Observation/chain-e']);
  const cycle = await h.search('Observation', '_id=cycle-1&_include:iterate=Observation:has-member');
  assert.deepEqual(ids(cycle.entries), ['Observation/cycle-1']);
  assert.deepEqual(ids(cycle.included), ['Observation/cycle-2']);
  // A match that is also a target is not repeated as an include.
  const overlap = await h.search('Observation', '_id=vitals-panel,heart-rate&_include=Observation:has-member');
  assert.deepEqual(ids(overlap.included), ['Observation/blood-pressure', 'Observation/body-temperature', 'Observation/respiratory-rate']);
});

test('wildcard and target-type narrowing', async () => {
  const all = await h.search('Observation', '_id=example-genetics-4&_include=Observation:*');
  // Specimen/genetics-example1-somatic is referenced but not in the examples: nothing to include.
  assert.deepEqual(ids(all.included), [
    'Observation/example-genetics-1', 'Observation/example-genetics-2', 'Observation/example-genetics-3', 'Patient/example', 'Practitioner/example',
  ]);
  // A bare `*` (as HAPI and many clients send it) is every reference parameter of the searched type.
  const bare = await h.search('Observation', '_id=example-genetics-4&_include=*');
  assert.deepEqual(ids(bare.included), ids(all.included));
  // Over several types, of each of them.
  const system = await h.system(['Observation', 'Encounter'], '_id=example-genetics-4,example&_include=*');
  assert.ok(ids(system.included).includes('Patient/example'));
  await assert.rejects(h.search('Encounter', '_id=example&_revinclude=*'), /name the referring type/);
  const narrowed = await h.search('Observation', '_id=656,f206,f005&_include=Observation:performer:Practitioner');
  assert.deepEqual(ids(narrowed.included), ['Practitioner/f005', 'Practitioner/f202']);
  const subjects = await h.search('Observation', '_id=bgpanel,f206&_include=Observation:subject:Patient');
  // bgpanel's subject Patient/infant is not an example resource.
  assert.deepEqual(ids(subjects.included), ['Patient/f201']);
});

test('several _include of one source type (one read of its references) give the union of each alone', async () => {
  const matches = '_id=656,f206,f005,example,bgpanel,ekg';
  const cases = [
    ['Observation:subject', 'Observation:encounter', 'Observation:performer'],
    // Different narrowing: performer only as Practitioner, subject as anything.
    ['Observation:performer:Practitioner', 'Observation:subject'],
    ['Observation:subject:Patient', 'Observation:subject'],
  ];
  for (const specs of cases) {
    const together = await h.search('Observation', `${matches}${specs.map((x) => `&_include=${x}`).join('')}`);
    const alone = new Set<string>();
    for (const x of specs) for (const k of ids((await h.search('Observation', `${matches}&_include=${x}`)).included)) alone.add(k);
    assert.ok(alone.size > 0, specs.join(' + '));
    assert.deepEqual(ids(together.included), [...alone].sort(), specs.join(' + '));
  }
});

test('_revinclude by one parameter and by wildcard', async () => {
  const byPerformer = await h.search('Practitioner', '_id=f202&_revinclude=Observation:performer');
  assert.deepEqual(ids(byPerformer.included), ['Observation/f203', 'Observation/f204', 'Observation/f205', 'Observation/f206']);
  const anyParam = await h.search('Encounter', '_id=example&_revinclude=Observation:*');
  assert.deepEqual(ids(anyParam.included), ['Observation/abdo-tender', 'Observation/clinical-gender', 'Observation/example', 'Observation/map-sitting']);
  const both = await h.search('Patient', '_id=f001&_revinclude=Observation:subject&_include=Patient:organization');
  assert.deepEqual(ids(both.included), [
    'Observation/ekg', 'Observation/f001', 'Observation/f002', 'Observation/f003', 'Observation/f004', 'Observation/f005', 'Observation/unsat',
    'Organization/f001',
  ]);
});

test('canonical references: _include resolves by url (and version), _revinclude by the matches\' urls', async () => {
  const fwd = await h.search('QuestionnaireResponse', '_id=qr-zika,qr-v2&_include=QuestionnaireResponse:questionnaire');
  assert.deepEqual(ids(fwd.included), ['Questionnaire/qv2', 'Questionnaire/zika-virus-exposure-assessment']);
  const unversioned = await h.search('QuestionnaireResponse', '_id=qr-v&_include=QuestionnaireResponse:questionnaire');
  assert.deepEqual(ids(unversioned.included), ['Questionnaire/qv1', 'Questionnaire/qv2']);
  const rev = await h.search('Questionnaire', '_id=qv1,zika-virus-exposure-assessment&_revinclude=QuestionnaireResponse:questionnaire');
  assert.deepEqual(ids(rev.included), ['QuestionnaireResponse/qr-v', 'QuestionnaireResponse/qr-zika']);
});

test('included resources are limited to the readable types and pass the read hooks', async () => {
  h.readHook.length = 0;
  const page = await h.search('Observation', '_id=vitals-panel&_include=Observation:has-member&_include=Observation:subject', {
    readable: ['Observation'],
  });
  assert.deepEqual(ids(page.included), ['Observation/blood-pressure', 'Observation/body-temperature', 'Observation/heart-rate', 'Observation/respiratory-rate']);
  assert.deepEqual([...h.readHook].sort(), [...ids(page.entries), ...ids(page.included)].sort());
});

test('bad _include values are refused', async () => {
  await assert.rejects(h.search('Observation', '_include=Observation:code'), /not a reference search parameter/);
  await assert.rejects(h.search('Observation', '_include=Observation'), /SourceType:parameter/);
  await assert.rejects(h.search('Observation', '_include=Nope:subject'), /unknown resource type/);
  await assert.rejects(h.search('Observation', '_include=Observation:performer:Encounter'), /cannot refer to Encounter/);
  await assert.rejects(h.search('Observation', '_include:deep=Observation:subject'), /Modifier/);
});
