import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HavenError } from '../../src/kernel/index.js';
import { openConformance } from './conformance-fixture.js';
import type { Conformance } from './conformance-fixture.js';

/**
 * Conformance: chaining, reverse chaining (_has), reference :identifier and
 * _list over HL7's R4 examples plus conformance-data.ts. Expected ids were
 * read off the example files (jq) and the hand-made data, not computed.
 */
let c: Conformance;
before(async () => {
  c = await openConformance();
});
after(async () => {
  await c?.close();
});

// Observations whose subject is Patient/example in hl7.fhir.r4.examples (jq: .subject.reference == "Patient/example").
const exampleObservations = [
  'abdo-tender', 'alcohol-type', 'blood-pressure', 'blood-pressure-cancel', 'blood-pressure-dar', 'bmi', 'bmi-using-related',
  'body-height', 'body-length', 'body-temperature', 'clinical-gender', 'example', 'example-TPMT-diplotype',
  'example-TPMT-haplotype-one', 'example-TPMT-haplotype-two', 'example-genetics-1', 'example-genetics-2', 'example-genetics-3',
  'example-genetics-4', 'example-genetics-5', 'eye-color', 'gcs-qa', 'glasgow', 'head-circumference', 'heart-rate',
  'map-sitting', 'mbp', 'respiratory-rate', 'satO2', 'vitals-panel',
];
// The Apgar score examples' subject is `#newborn`, a contained Patient Chalmers: R4 evaluates a chain inside
// contained resources (test/search/conformance-contained.test.ts), so `subject:Patient.family=chalmers` finds them too.
const chalmersObservations = [...exampleObservations, '10minute-apgar-score', '1minute-apgar-score', '20minute-apgar-score', '2minute-apgar-score', '5minute-apgar-score'].sort();

async function rejectsWith(type: string, query: string, code: string): Promise<void> {
  await assert.rejects(c.ids(type, query), (e: unknown) => e instanceof HavenError && e.code === code, `${type}?${query}`);
}

test('chain with an explicit type: subject:Patient.name (HL7 examples and accent folding)', async () => {
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.family=chalmers'), chalmersObservations);
  // "Ödegaard" and "Odegaard" both start with "odegaard" once accents are folded.
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.name=odegaard'), ['cf-o1', 'cf-o2', 'cf-o3', 'cf-o4', 'cf-o6', 'cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.name:exact=Ödegaard'), ['cf-o1', 'cf-o3', 'cf-o6', 'cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.name=nobody'), []);
});

test('chain without a type: every target type with the parameter is searched; types that disagree are a clear error', async () => {
  // patient has the single target Patient.
  assert.deepEqual(await c.ids('Observation', 'patient.name=odegaard'), ['cf-o1', 'cf-o2', 'cf-o3', 'cf-o4', 'cf-o6', 'cf-o9']);
  // subject targets Patient, Group, Device, Location: `name` is a string on Patient and Location, so both are searched.
  assert.deepEqual(await c.ids('Observation', 'subject.name=odegaard'), await c.ids('Observation', 'subject:Patient.name=odegaard'));
  // `identifier` is a token on all four: a Group's (HL7 example herd1, jq: Group-herd1 .identifier) and a Patient's.
  assert.deepEqual(await c.ids('Observation', 'subject.identifier=https://vetmed.iastate.edu/vdl|20171120-1234'), ['herd1']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.identifier=https://vetmed.iastate.edu/vdl|20171120-1234'), []);
  assert.deepEqual(await c.ids('Observation', 'subject.identifier=urn:oid:1.2.36.146.595.217.0.1|12345'), await c.ids('Observation', 'subject:Patient.identifier=urn:oid:1.2.36.146.595.217.0.1|12345'));
  assert.ok((await c.ids('Observation', 'subject.identifier=urn:oid:1.2.36.146.595.217.0.1|12345')).includes('blood-pressure'));
  // focus targets any type: `type` is a token on most and a uri on StructureDefinition — different meanings.
  await rejectsWith('Observation', 'focus.type=x', 'SEARCH_CHAIN_AMBIGUOUS');
  // Only Patient has `family` among subject's targets.
  assert.deepEqual(await c.ids('Observation', 'subject.family=chalmers'), chalmersObservations);
  await rejectsWith('Observation', 'subject:Organization.name=x', 'SEARCH_UNSUPPORTED_MODIFIER');
  await rejectsWith('Observation', 'subject:Patient.nonexistent=x', 'SEARCH_UNKNOWN_PARAM');
  await rejectsWith('Observation', 'code.name=x', 'SEARCH_UNSUPPORTED_PARAM');
});

test('multi-level chains a.b.c', async () => {
  // cf-p1 → Organization cf-org1 "Northside Clinic" → partOf cf-org3 "Regional Health Network".
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.organization.name=northside'), ['cf-o1', 'cf-o3', 'cf-o6', 'cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.organization.partof.name=regional'), ['cf-o1', 'cf-o3', 'cf-o6', 'cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.organization.name=southside'), ['cf-o2', 'cf-o4']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.general-practitioner:Practitioner.family=welby&code=2345-7'), ['cf-o3', 'cf-o6']);
});

test('chains combine with other criteria, OR within and AND across', async () => {
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.name=odegaard,smith-jones&code=2345-7'), ['cf-o3', 'cf-o4', 'cf-o5', 'cf-o6']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.name=odegaard&subject:Patient.organization.name=south'), ['cf-o2', 'cf-o4']);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient._id=cf-p3'), ['cf-o5']);
  // Negation inside a chain: subjects (Patients) that are not tagged vip.
  assert.deepEqual(await c.ids('Observation', 'subject:Patient._tag:not=urn:tags|vip&code=2345-7'), ['cf-o4', 'cf-o5']);
});

test('_has: reverse chaining, including HL7 examples', async () => {
  // Glucose observations refer (patient) to cf-p1 (o3, o6), cf-p2 (o4), cf-p3 (o5); o7 has only an identifier, o8 a Group.
  assert.deepEqual(await c.ids('Patient', '_has:Observation:patient:code=2345-7'), ['cf-p1', 'cf-p2', 'cf-p3']);
  assert.deepEqual(await c.ids('Patient', '_has:Observation:patient:code=http://loinc.org|29463-7'), ['example']);
  assert.deepEqual(await c.ids('Group', '_has:Observation:subject:code=2345-7'), ['cf-g1']);
  // jq: valueQuantity.value > 50 → Patient/example, Patient/f201, PatientId-patientId (not a stored Patient); cf-o6 (98 mg/dL) → cf-p1.
  assert.deepEqual(await c.ids('Patient', '_has:Observation:patient:value-quantity=gt50'), ['cf-p1', 'example', 'f201']);
  assert.deepEqual(await c.ids('Patient', '_has:Observation:patient:code=2345-7&name=smith'), ['cf-p3']);
  await rejectsWith('Patient', '_has:Observation:code:code=x', 'SEARCH_UNSUPPORTED_PARAM');
  await rejectsWith('Patient', '_has:Observation:patient=x', 'SEARCH_INVALID_VALUE');
  await rejectsWith('Patient', '_has:Observation:patient:nonexistent=x', 'SEARCH_UNKNOWN_PARAM');
});

test('nested _has and _has with a chain inside', async () => {
  // Encounter cf-e1 (cf-p1) is the encounter of glucose cf-o3; HL7 Encounter/example (Patient/example) of body weight "example".
  assert.deepEqual(await c.ids('Patient', '_has:Encounter:patient:_has:Observation:encounter:code=2345-7'), ['cf-p1']);
  assert.deepEqual(await c.ids('Patient', '_has:Encounter:patient:_has:Observation:encounter:code=http://loinc.org|29463-7'), ['example']);
  // BP panels (85354-9): HL7 ones are Patient/example's (managingOrganization Organization/1); cf-o1 → cf-p1 → cf-org1; cf-o2 → cf-p2 → cf-org2.
  assert.deepEqual(await c.ids('Organization', '_has:Patient:organization:_has:Observation:patient:code=85354-9'), ['1', 'cf-org1', 'cf-org2']);
  assert.deepEqual(await c.ids('Practitioner', '_has:Patient:general-practitioner:_has:Observation:patient:code=2345-7'), ['cf-dr1']);
});

test('reference :identifier matches Reference.identifier', async () => {
  assert.deepEqual(await c.ids('Observation', 'subject:identifier=urn:mrn|M1'), ['cf-o7']);
  assert.deepEqual(await c.ids('Observation', 'subject:identifier=M1'), ['cf-o7']);
  assert.deepEqual(await c.ids('Observation', 'subject:identifier=urn:dl|M1'), []);
});

test('_list: resources that are items of a List', async () => {
  assert.deepEqual(await c.ids('Patient', '_list=cf-list1'), ['cf-p1', 'cf-p3']);
  assert.deepEqual(await c.ids('Patient', '_list=cf-list1&name=smith'), ['cf-p3']);
  assert.deepEqual(await c.ids('Observation', '_list=cf-list1'), []);
  assert.deepEqual(await c.ids('Patient', '_list=no-such-list'), []);
});

test('full-text _text/_content answer a clear not-supported error', async () => {
  await rejectsWith('Patient', '_text=x', 'SEARCH_UNSUPPORTED_PARAM');
  await rejectsWith('Patient', '_content=x', 'SEARCH_UNSUPPORTED_PARAM');
});
