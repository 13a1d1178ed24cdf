import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFhirDefinitions } from '../../src/fhir/index.js';
import { compileSearch, parseSearch } from '../../src/search/index.js';
import type { FhirResource } from '../../src/store/index.js';
import { ctx, loadExamples, type Loaded } from './include-fixture.js';

/**
 * Patient-keyed tokens (ADR 0010, migration 047), through the real store and
 * runner: each fused form returns the rows of the intersection it replaces,
 * the rows follow updates and deletes, and the forms that must not be fused
 * are not.
 */
const LOINC = 'http://loinc.org';
const SNOMED = 'http://snomed.info/sct';
const coding = (system: string | null, code: string) => (system === null ? { code } : { system, code });
const patient = (id: string, family: string): FhirResource => ({ resourceType: 'Patient', id, name: [{ family }] });
const observation = (id: string, subject: string, codes: ReturnType<typeof coding>[], performer?: string): FhirResource => ({
  resourceType: 'Observation',
  id,
  status: 'final',
  code: { coding: codes },
  subject: { reference: subject },
  ...(performer ? { performer: [{ reference: performer }] } : {}),
});

const data: FhirResource[] = [
  patient('p1', 'Alpha'),
  patient('p2', 'Alpha'),
  patient('p3', 'Beta'),
  // o1: subject p1, performed by p2, two codings.
  observation('o1', 'Patient/p1', [coding(LOINC, 'A'), coding(SNOMED, 'S')], 'Patient/p2'),
  observation('o2', 'Patient/p1', [coding(LOINC, 'B')]),
  observation('o3', 'Patient/p2', [coding(LOINC, 'A')]),
  // A group's observation: no Patient, no keyed rows; it must never match a patient search.
  observation('o4', 'Group/g1', [coding(LOINC, 'A')]),
  // No system.
  observation('o5', 'Patient/p3', [coding(null, 'A')]),
  { resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/p3' }, code: { coding: [coding(LOINC, 'A')] } },
];

let h: Loaded;
before(async () => {
  h = await loadExamples(data, []);
});
after(async () => {
  await h?.close();
});

const found = (type: string, query: string) => h.search(type, query).then((p) => p.entries.map((r) => r.id).sort());
const inCompartment = (id: string, type: string, query: string) =>
  h.search(type, query, { compartment: { compartment: 'Patient', id, paramsFor: (t) => h.fhir.compartments.paramsFor('Patient', t) } }).then((p) => p.entries.map((r) => r.id).sort());

test('a patient and a code: every system form, several patients, several codes', async () => {
  assert.deepEqual(await found('Observation', `patient=p1&code=${LOINC}|A`), ['o1']);
  assert.deepEqual(await found('Observation', 'patient=p1&code=A'), ['o1']);
  assert.deepEqual(await found('Observation', `patient=p1&code=${SNOMED}|S`), ['o1']);
  assert.deepEqual(await found('Observation', 'patient=p3&code=|A'), ['o5']);
  assert.deepEqual(await found('Observation', `patient=p3&code=${LOINC}|A`), []);
  assert.deepEqual(await found('Observation', 'patient=p1,p2&code=A'), ['o1', 'o3']);
  assert.deepEqual(await found('Observation', 'patient=p1&code=A,B'), ['o1', 'o2']);
  assert.deepEqual(await found('Observation', 'patient=p1&code=A&code=S'), ['o1']);
  assert.deepEqual(await found('Observation', 'patient=p1&code=A&code=B'), []);
  assert.deepEqual(await found('Observation', 'patient=Patient/p1&code=A'), ['o1']);
  assert.deepEqual(await found('Condition', 'patient=p3&code=A'), ['c1']);
});

test('the linking parameter counts: subject, performer and the compartment', async () => {
  assert.deepEqual(await found('Observation', 'subject=Patient/p1&code=A'), ['o1']);
  assert.deepEqual(await found('Observation', 'subject:Patient=p2&code=A'), ['o3']);
  // o1 names p2 as performer only: not p2's by subject, but in p2's compartment.
  assert.deepEqual(await found('Observation', 'performer=Patient/p2&code=A'), ['o1']);
  assert.deepEqual(await found('Observation', 'performer=Patient/p1&code=A'), []);
  assert.deepEqual(await inCompartment('p2', 'Observation', 'code=A'), ['o1', 'o3']);
  assert.deepEqual(await inCompartment('p1', 'Observation', 'code=B'), ['o2']);
  assert.deepEqual(await inCompartment('p3', 'Observation', 'code=B'), []);
});

test('_has on Patient through each reference parameter', async () => {
  assert.deepEqual(await found('Patient', '_has:Observation:patient:code=A'), ['p1', 'p2', 'p3']);
  assert.deepEqual(await found('Patient', `_has:Observation:patient:code=${LOINC}|A`), ['p1', 'p2']);
  assert.deepEqual(await found('Patient', '_has:Observation:performer:code=A'), ['p2']);
  assert.deepEqual(await found('Patient', '_has:Observation:subject:code=B'), ['p1']);
  assert.deepEqual(await found('Patient', 'family=Alpha&_has:Observation:patient:code=B'), ['p1']);
  assert.deepEqual(await found('Patient', 'family=Beta&_has:Condition:patient:code=A'), ['p3']);
});

test('the rows follow an update of the subject and a delete', async () => {
  const o1 = data.find((r) => r.id === 'o1')!;
  await h.store.transaction(ctx, (tx) => tx.write(ctx, [{ kind: 'update', id: 'o1', resource: { ...o1, subject: { reference: 'Patient/p3' } } }]));
  assert.deepEqual(await found('Observation', 'patient=p1&code=A'), []);
  assert.deepEqual(await found('Observation', 'patient=p3&code=A'), ['o1', 'o5']);
  // Still p2's by performer.
  assert.deepEqual(await found('Observation', 'performer=Patient/p2&code=A'), ['o1']);
  const rows = await h.t.db.query<{ patient_id: string; ref_params: string[] }>(
    "SELECT patient_id, ref_params FROM idx_token_patient WHERE resource_type = 'Observation' AND resource_id = 'o1' AND code = 'A' ORDER BY patient_id",
  );
  assert.deepEqual(rows.rows, [{ patient_id: 'p2', ref_params: ['performer'] }, { patient_id: 'p3', ref_params: ['patient', 'subject'] }]);
  await h.store.transaction(ctx, (tx) => tx.write(ctx, [{ kind: 'delete', resourceType: 'Observation', id: 'o3' }]));
  assert.deepEqual(await found('Observation', 'patient=p2&code=A'), []);
  assert.deepEqual(await found('Patient', '_has:Observation:patient:code=A'), ['p3']);
  const left = await h.t.db.query("SELECT 1 FROM idx_token_patient WHERE resource_type = 'Observation' AND resource_id = 'o3'");
  assert.equal(left.rowCount, 0);
});

test('only plain codes beside a Patient anchor read the patient-keyed rows', () => {
  const fhir = createFhirDefinitions();
  const sql = (type: string, query: string) => compileSearch(parseSearch(type, [...new URLSearchParams(query)], fhir.registry, { strict: true }), 'default').sql;
  const keyed = (type: string, query: string) => sql(type, query).includes('idx_token_patient');
  assert.ok(keyed('Observation', 'patient=p1&code=A'));
  assert.ok(keyed('Observation', 'subject=Patient/p1&code=A'));
  assert.ok(keyed('Patient', '_has:Observation:patient:code=A'));
  // A bare id on `subject` may name a Group or a Device: the intersection stays.
  assert.ok(!keyed('Observation', 'subject=p1&code=A'));
  assert.ok(!keyed('Observation', 'subject=Group/g1&code=A'));
  assert.ok(!keyed('Observation', 'patient=p1&code:text=A'));
  assert.ok(!keyed('Observation', 'patient=p1&code:not=A'));
  assert.ok(!keyed('Observation', 'patient=p1&category=A'));
  assert.ok(!keyed('Observation', 'patient=p1&combo-code=A'));
  assert.ok(!keyed('Observation', 'patient:identifier=urn:mrn|1&code=A'));
  assert.ok(!keyed('Observation', 'code=A'));
  assert.ok(!keyed('Group', '_has:Observation:subject:code=A'));
  // The anchor is implied by the fused rows, so its own subquery goes.
  assert.ok(!sql('Observation', 'patient=p1&code=A').includes('idx_reference'));
});
