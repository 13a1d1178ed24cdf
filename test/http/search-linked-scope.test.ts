import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createClientRegistry } from '../../src/auth/index.js';
import { fetchToken } from '../../src/cli/client.js';
import { DEFAULT_TENANT } from '../../src/kernel/index.js';
import { clientKeys } from '../auth/harness.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
let observationsOnly: string;
let patientId: string;

before(async () => {
  s = await startTestServer();
  const keys = await clientKeys('ES384');
  await createClientRegistry({ db: s.testDb.db }).register(DEFAULT_TENANT, { clientId: 'lab-app', name: 'Lab app', jwks: { keys: [keys.publicJwk] }, scopes: 'system/Observation.rs' });
  observationsOnly = (await fetchToken(s.baseUrl, { clientId: 'lab-app', tokenUrl: `${s.baseUrl}/auth/token`, privateJwk: keys.privateJwk as Record<string, unknown> }, 'system/Observation.rs')).token;
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
