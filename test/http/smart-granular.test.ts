import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.js';
import { limitedClientToken } from '../support/clients.js';
import { call, createUser, ids, included, seed, userToken } from './access-support.js';

/**
 * SMART 2 granular scopes over real HTTP: `patient/Observation.rs?category=…|laboratory`
 * grants only laboratory Observations (criteria in the SQL of search and count, existence
 * check for read/vread/history, includes checked); scopes for one type OR together.
 */
const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LAB = `patient/Observation.rs?category=${CAT}|laboratory`;
let s: TestServer;
let user: string;
let labOnly: string;
let both: string;

before(async () => {
  s = await startTestServer({ HAVEN_ENV: 'test' });
  await seed(s); // o1 lab of p1, o2 vital-signs of p1, o3 lab of p2
  user = await createUser(s, ['clinician']); // no roles defined in the tenant: no access policies apply
  labOnly = await userToken(s, user, ['patient/Patient.rs', LAB], 'p1');
  both = await userToken(s, user, ['patient/Patient.rs', LAB, 'patient/Observation.rs'], 'p1');
});
after(async () => s?.close());

test('granular patient scope: search returns only matching resources of the patient, count too', async () => {
  const res = await call(s, 'GET', '/fhir/Observation', labOnly);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(ids(res.body), ['Observation/o1']);
  const count = await call(s, 'GET', '/fhir/Observation?_summary=count', labOnly);
  assert.equal(count.status, 200);
  assert.equal(count.body.total, 1);
  const asked = await call(s, 'GET', `/fhir/Observation?category=${encodeURIComponent(`${CAT}|vital-signs`)}`, labOnly);
  assert.equal(asked.status, 200);
  assert.deepEqual(ids(asked.body), [], 'asking for vital signs finds nothing');
});

test('granular patient scope: read, vread and instance history only on matching resources', async () => {
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', labOnly)).status, 200);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o2', labOnly)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1/_history/1', labOnly)).status, 200);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o2/_history/1', labOnly)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1/_history', labOnly)).status, 200);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o2/_history', labOnly)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o3', labOnly)).status, 403, 'laboratory but another patient');
  assert.equal((await call(s, 'GET', '/fhir/Observation/_history', labOnly)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Observation/missing', labOnly)).status, 403, 'existence is not disclosed');
});

test('granular and plain scopes for the same type OR together: everything of the patient', async () => {
  const res = await call(s, 'GET', '/fhir/Observation', both);
  assert.equal(res.status, 200);
  assert.deepEqual(ids(res.body), ['Observation/o1', 'Observation/o2']);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o2', both)).status, 200);
});

test('granular scopes grant no writes', async () => {
  const write = await userToken(s, user, [`patient/Observation.cruds?category=${CAT}|laboratory`], 'p1');
  const res = await call(s, 'PUT', '/fhir/Observation/o1', write, {
    resourceType: 'Observation', id: 'o1', status: 'final', subject: { reference: 'Patient/p1' }, code: { text: 'y' },
    category: [{ coding: [{ system: CAT, code: 'laboratory' }] }],
  });
  assert.equal(res.status, 403);
});

test('granular user scope: includes are checked against the criteria', async () => {
  const u = await userToken(s, user, ['user/Patient.rs', `user/Observation.rs?category=${CAT}|laboratory`]);
  const res = await call(s, 'GET', '/fhir/Patient?_id=p1&_revinclude=Observation:subject', u);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(ids(res.body), ['Patient/p1']);
  assert.deepEqual(included(res.body), ['Observation/o1']);
  assert.equal((await call(s, 'GET', '/fhir/Patient?_has:Observation:subject:status=final', u)).status, 403, '_has over a granular type');
});

test('system client with a granular scope sees only vital signs', async () => {
  const token = await limitedClientToken(s, `granular-${process.pid}`, `system/Observation.rs?category=${CAT}|vital-signs`);
  const res = await call(s, 'GET', '/fhir/Observation', token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.deepEqual(ids(res.body), ['Observation/o2']);
  const count = await call(s, 'GET', '/fhir/Observation?_summary=count', token);
  assert.equal(count.body.total, 1);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o2', token)).status, 200);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', token)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/?_type=Observation', token)).status, 403);
});
