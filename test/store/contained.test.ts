import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containedKey, indexedWithContained } from '../../src/store/contained.js';
import type { IndexValue } from '../../src/fhir/index-values.js';
import type { FhirResource } from '../../src/store/model.js';

/**
 * The index entries of a container and its contained resources (migration 042), with a
 * stand-in extraction that reports each reference literal the way src/fhir/to-index-values.ts
 * does: `Type/id` as target, `#id` as url.
 */
function extract(r: FhirResource): IndexValue[] {
  const refs = (r['refs'] as string[] | undefined) ?? [];
  return refs.map((ref) => {
    const m = /^([A-Z][A-Za-z]+)\/(.+)$/.exec(ref);
    return { type: 'reference', param: 'ref', targetType: m?.[1] ?? null, targetId: m?.[2] ?? null, url: m ? null : ref, version: null, identifierSystem: null, identifierValue: null };
  });
}

test('contained resources get entries under their own type and a key no resource id can take', () => {
  const container = {
    resourceType: 'MedicationRequest',
    refs: ['#m1', 'Patient/p1', '#gone'],
    contained: [
      { resourceType: 'Medication', id: 'm1', refs: ['#o1'] },
      { resourceType: 'Organization', id: 'o1' },
      { resourceType: 'Medication', id: 'm1', refs: [] }, // a second m1: the first one counts
      { resourceType: 'Substance' }, // no id: cannot be addressed, not indexed
      'not a resource',
    ],
  } as unknown as FhirResource;
  const { indexed, contained } = indexedWithContained('MedicationRequest', 'mr1', container, extract);
  assert.equal(containedKey('MedicationRequest', 'mr1', 'm1'), 'MedicationRequest/mr1#m1');
  assert.deepEqual(indexed.map((e) => `${e.resourceType} ${e.id}`), ['MedicationRequest mr1', 'Medication MedicationRequest/mr1#m1', 'Organization MedicationRequest/mr1#o1']);
  assert.deepEqual(contained, [
    ['Medication', 'MedicationRequest/mr1#m1', 'MedicationRequest', 'mr1', 'm1'],
    ['Organization', 'MedicationRequest/mr1#o1', 'MedicationRequest', 'mr1', 'o1'],
  ]);
  const targets = (values: IndexValue[]) => values.map((v) => (v.type === 'reference' ? `${v.targetType}/${v.targetId} ${v.url}` : v.type));
  // #m1 resolves to the contained Medication's key, Patient/p1 stays, #gone (no such contained resource) is dropped.
  assert.deepEqual(targets(indexed[0]!.values), ['Medication/MedicationRequest/mr1#m1 null', 'Patient/p1 null']);
  // A contained resource's local reference resolves within the same container.
  assert.deepEqual(targets(indexed[1]!.values), ['Organization/MedicationRequest/mr1#o1 null']);
});

test('a contained resource is extracted with its container at hand, and its `#` names the container', () => {
  const container = {
    resourceType: 'Observation',
    refs: ['#'],
    contained: [{ resourceType: 'Observation', id: 'inner', refs: ['#', '#inner'] }],
  } as unknown as FhirResource;
  const seen: (FhirResource | undefined)[] = [];
  const { indexed } = indexedWithContained('Observation', 'oc', container, (r, c) => {
    seen.push(c);
    return extract(r);
  });
  assert.deepEqual(seen, [undefined, container], 'the container alone, then its contained resource with the container');
  const targets = (values: IndexValue[]) => values.map((v) => (v.type === 'reference' ? `${v.targetType}/${v.targetId}` : v.type));
  assert.deepEqual(targets(indexed[0]!.values), [], 'the container\'s own `#` names nothing');
  assert.deepEqual(targets(indexed[1]!.values), ['Observation/oc', 'Observation/Observation/oc#inner']);
});

test('a resource without contained resources is its own entry, its values untouched', () => {
  const values: IndexValue[] = [{ type: 'uri', param: 'url', value: 'http://x' }];
  const { indexed, contained } = indexedWithContained('ValueSet', 'v', { resourceType: 'ValueSet' }, () => values);
  assert.equal(indexed.length, 1);
  assert.equal(indexed[0]!.values, values);
  assert.deepEqual(contained, []);
});
