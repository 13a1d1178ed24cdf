import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompartmentScope } from '../../src/store/search-runner.js';
import { ids, loadExamples, type Loaded } from './include-fixture.js';

/**
 * Compartment search over HL7's R4 examples, with the parameters of the
 * official CompartmentDefinitions. Expected sets were read off the example
 * files (e.g. Condition-f201..f205 have subject Patient/f201; Condition-f202
 * has no asserter, so it is not in Practitioner/f201's compartment).
 */
let h: Loaded;
before(async () => {
  h = await loadExamples();
});
after(async () => {
  await h?.close();
});

function scope(compartment: string, id: string): CompartmentScope {
  return { compartment, id, paramsFor: (type) => h.fhir.compartments.paramsFor(compartment, type) };
}

const inCompartment = (compartment: string, id: string, type: string, query = '') =>
  h.search(type, query, { compartment: scope(compartment, id) }).then((p) => ids(p.entries));

test('Patient compartment: Observation by subject or performer, each once', async () => {
  assert.deepEqual(await inCompartment('Patient', 'f001', 'Observation'), [
    'Observation/ekg', 'Observation/f001', 'Observation/f002', 'Observation/f003', 'Observation/f004', 'Observation/f005', 'Observation/unsat',
  ]);
  // Observation/656 has the patient as subject and as performer.
  assert.deepEqual(await inCompartment('Patient', 'PatientId-patientId', 'Observation'), ['Observation/656']);
  assert.deepEqual(await inCompartment('Patient', 'f201', 'Condition'), ['Condition/f201', 'Condition/f202', 'Condition/f203', 'Condition/f204', 'Condition/f205']);
  assert.deepEqual(await inCompartment('Patient', 'f201', 'Patient'), ['Patient/f201']);
  assert.deepEqual(await inCompartment('Patient', 'nobody', 'Observation'), []);
});

test('compartment criteria combine with the other search parameters', async () => {
  assert.deepEqual(await inCompartment('Patient', 'f001', 'Observation', '_id=f001,f206,ekg'), ['Observation/ekg', 'Observation/f001']);
  const page = await h.search('Observation', '_count=3&_sort=_id', { compartment: scope('Patient', 'f001') });
  assert.deepEqual(page.entries.map((r) => r.id), ['ekg', 'f001', 'f002']);
  assert.equal(page.hasMore, true);
  const counted = await h.search('Observation', '_summary=count', { compartment: scope('Patient', 'f001') });
  assert.equal(counted.total, 7);
});

test('Practitioner, Encounter, RelatedPerson and Device compartments use their own parameters', async () => {
  assert.deepEqual(await inCompartment('Practitioner', 'f005', 'Observation'), [
    'Observation/ekg', 'Observation/f001', 'Observation/f002', 'Observation/f003', 'Observation/f004', 'Observation/f005', 'Observation/unsat', 'Observation/vp-oyster',
  ]);
  assert.deepEqual(await inCompartment('Practitioner', 'f201', 'Condition'), ['Condition/f201', 'Condition/f203', 'Condition/f204', 'Condition/f205']);
  assert.deepEqual(await inCompartment('Practitioner', 'f201', 'Encounter'), ['Encounter/f201', 'Encounter/f202', 'Encounter/f203']);
  assert.deepEqual(await inCompartment('Practitioner', 'f201', 'QuestionnaireResponse'), ['QuestionnaireResponse/f201']);
  assert.deepEqual(await inCompartment('Encounter', 'example', 'Observation'), [
    'Observation/abdo-tender', 'Observation/clinical-gender', 'Observation/example', 'Observation/map-sitting',
  ]);
  assert.deepEqual(await inCompartment('Encounter', 'f201', 'Condition'), ['Condition/f201']);
  assert.deepEqual(await inCompartment('RelatedPerson', 'peter', 'Observation'), []);
  assert.deepEqual(await inCompartment('Device', 'example', 'Device'), ['Device/example']);
});

test('Patient/f201/*: every type of the compartment, across types in one page', async () => {
  const types = h.fhir.compartments.resourceTypesIn('Patient');
  const page = await h.system(types, '_count=100', { strict: false, compartment: scope('Patient', 'f201') });
  assert.deepEqual(ids(page.entries), [
    'Condition/f201', 'Condition/f202', 'Condition/f203', 'Condition/f204', 'Condition/f205',
    'Encounter/f201', 'Encounter/f202', 'Encounter/f203',
    'Observation/f202', 'Observation/f203', 'Observation/f204', 'Observation/f205', 'Observation/f206',
    'Patient/f201', 'Procedure/f201', 'QuestionnaireResponse/f201', 'RelatedPerson/f002',
  ]);
  assert.equal(page.total, 17);
});
