import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { limitedClientToken } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
let observationsOnly: string;
let patientId: string;

before(async () => {
  s = await startTestServer();
  observationsOnly = await limitedClientToken(s, 'lab-app', 'system/Observation.rs');
  const p = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Linkedscope' }] } });
  patientId = p.body.id;
  await s.fhir('/Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patientId}` } } });
});
after(async () => {
  await s.close();
});

test('a chain or _has into a type the token may not search is refused', async () => {
  const plain = await s.fhir(`/Observation?subject=Patient/${patientId}`, { token: observationsOnly });
  assert.equal(plain.status, 200);
  assert.equal(plain.body.entry.length, 1);
  const chained = await s.fhir('/Observation?subject:Patient.name=Linkedscope', { token: observationsOnly });
  assert.equal(chained.status, 403);
  assert.equal(chained.body.issue[0].details.coding[0].code, 'AUTH_SCOPE_INSUFFICIENT');
  const admin = await s.fhir('/Observation?subject:Patient.name=Linkedscope');
  assert.equal(admin.status, 200);
  assert.equal(admin.body.entry.length, 1);
});

test('a chain without a type searches only the target types the token may search', async () => {
  const withPatients = await limitedClientToken(s, 'lab-app-patients', 'system/Observation.rs system/Patient.rs');
  // subject targets Patient, Group, Device and Location; `name` is on Patient and Location: only Patient is searched here.
  const untyped = await s.fhir('/Observation?subject.name=Linkedscope', { token: withPatients });
  assert.equal(untyped.status, 200, JSON.stringify(untyped.body));
  assert.equal(untyped.body.entry.length, 1);
  // With none of the target types allowed, the refusal names the type as before.
  const none = await s.fhir('/Observation?subject.name=Linkedscope', { token: observationsOnly });
  assert.equal(none.status, 403);
  assert.equal(none.body.issue[0].details.coding[0].code, 'AUTH_SCOPE_INSUFFICIENT');
});
