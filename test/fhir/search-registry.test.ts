import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHavenError } from '../../src/kernel/errors.js';
import { createSearchParamRegistry } from '../../src/fhir/search-registry.js';
import { expressionForType } from '../../src/fhir/expression-split.js';
import { fhir } from './support.js';

test('multi-base expressions are split per type', () => {
  const { registry } = fhir();
  assert.equal(registry.expression('Patient', 'family'), 'Patient.name.family');
  assert.equal(registry.expression('Practitioner', 'family'), 'Practitioner.name.family');
  assert.equal(registry.expression('Observation', 'patient'), 'Observation.subject.where(resolve() is Patient)');
  assert.equal(registry.expression('Observation', 'value-quantity'), '(Observation.value as Quantity) | (Observation.value as SampledData)');
  assert.equal(registry.get('Patient', 'family')?.type, 'string');
  assert.deepEqual(registry.get('Patient', 'family')?.base, ['Patient', 'Practitioner']);
});

test('Resource-level parameters apply to every type', () => {
  const { registry } = fhir();
  for (const code of ['_id', '_lastUpdated', '_tag', '_profile', '_security', '_source']) {
    assert.ok(registry.get('Observation', code), code);
    assert.ok(registry.forType('Bundle').some((p) => p.code === code), code);
  }
  assert.equal(registry.expression('Patient', '_id'), 'Patient.id');
  assert.equal(registry.expression('Encounter', '_lastUpdated'), 'Encounter.meta.lastUpdated');
  assert.equal(registry.get('Bundle', '_text'), undefined, 'Bundle is not a DomainResource');
  assert.equal(registry.get('Patient', 'no-such-param'), undefined);
  assert.ok(registry.forType('Patient').length > 30);
});

test('split keeps untyped parts and strips other roots', () => {
  const known = new Set(['Patient', 'Practitioner']);
  assert.equal(expressionForType('Patient.a | Practitioner.b', 'Practitioner', known), 'Practitioner.b');
  assert.equal(expressionForType("(Patient.x as Quantity) | Patient.y.where(s='a|b')", 'Patient', known), "(Patient.x as Quantity) | Patient.y.where(s='a|b')");
  assert.equal(expressionForType('Practitioner.b', 'Patient', known), null);
});

test('register: custom parameters are added and bad ones refused with every problem', () => {
  const registry = createSearchParamRegistry({ resourceTypes: ['Patient'], searchParams: [] });
  const def = registry.register({ resourceType: 'SearchParameter', code: 'eye-colour', base: ['Patient'], type: 'token', expression: 'Patient.extension.value' });
  assert.equal(registry.get('Patient', 'eye-colour'), def);
  assert.deepEqual(registry.forType('Patient').map((p) => p.code), ['eye-colour']);
  assert.throws(
    () => registry.register({ resourceType: 'SearchParameter', base: [], type: 'nonsense' }),
    (err: unknown) => isHavenError(err) && err.code === 'SEARCH_PARAM_INVALID' && /code/.test(err.message) && /type/.test(err.message) && /base/.test(err.message),
  );
  assert.throws(() => registry.register({ resourceType: 'SearchParameter', code: 'x', base: ['Nope'], type: 'token' }), /Unknown base/);
});

test('definitions: concrete resource types and compartments', () => {
  const defs = fhir();
  assert.equal(defs.resourceTypes.size, 146);
  assert.ok(defs.isResourceType('Patient'));
  assert.ok(!defs.isResourceType('DomainResource'));
  assert.ok(!defs.isResourceType('HumanName'));
  assert.deepEqual(defs.compartments.paramsFor('Patient', 'Observation'), ['subject', 'performer']);
  assert.deepEqual(defs.compartments.paramsFor('Patient', 'Patient'), ['link']);
  assert.deepEqual(defs.compartments.paramsFor('Patient', 'ValueSet'), []);
  assert.ok(defs.compartments.types().includes('Encounter'));
  assert.ok(defs.compartments.resourceTypesIn('Patient').includes('Condition'));
});
