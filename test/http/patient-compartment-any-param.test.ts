import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer, putResources } from '../support/server.js';
import { call, createUser, ids, putRole, userToken } from './access-support.js';

/**
 * R4 compartment membership: a resource is in Patient/p1's compartment when ANY
 * of the parameters the CompartmentDefinition lists for its type references
 * p1 (Observation: `subject` or `performer`). A patient-context token must get
 * the same set whichever way it asks — read, type search, `Patient/p1/Observation`,
 * `Patient/p1/*`, another compartment's type or `*` search, a count. `perf` is
 * p2's Observation performed by p1: in p1's compartment by `performer` only.
 */
const resources = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Mine' }] },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'Observation', id: 'subj', status: 'final', code: { text: 'pulse' }, subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' } },
  { resourceType: 'Observation', id: 'perf', status: 'final', code: { text: 'self-measured' }, subject: { reference: 'Patient/p2' }, performer: [{ reference: 'Patient/p1' }], encounter: { reference: 'Encounter/e1' } },
  { resourceType: 'Observation', id: 'none', status: 'final', code: { text: 'not p1' }, subject: { reference: 'Patient/p2' }, encounter: { reference: 'Encounter/e1' } },
];
const MINE = ['Observation/perf', 'Observation/subj'];

let s: TestServer;
let token: string;
let clerk: string;

before(async () => {
  s = await startTestServer();
  await putResources(s, resources);
  const user = await call(s, 'POST', '/auth/admin/users', await s.token(), { username: 'p1-any', password: 'correct horse battery', roles: ['patient'], patient: 'Patient/p1' });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  token = await userToken(s, user.body.userId, ['patient/*.rs'], 'p1');
  const role = { policies: [{ resourceType: 'Observation', interactions: ['read', 'search'], compartment: 'Patient/p1' }] };
  assert.equal((await putRole(s, 'p1-observations', role)).status, 201);
  clerk = await userToken(s, await createUser(s, ['p1-observations']));
});
after(async () => s?.close());

const observations = async (path: string): Promise<string[]> => {
  const res = await s.fhir(path, { token });
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
  return ids(res.body).filter((k) => k.startsWith('Observation/'));
};

describe('patient context: compartment membership by any linking parameter', () => {
  it('a resource linked by `performer` only is readable, as the CompartmentDefinition says', async () => {
    assert.equal((await s.fhir('/Observation/perf', { token })).status, 200);
    assert.equal((await s.fhir('/Observation/none', { token })).status, 403);
  });

  it('a type search returns what the compartment search returns', async () => {
    assert.deepEqual(await observations('/Patient/p1/*'), MINE, 'the `*` compartment search');
    assert.deepEqual(await observations('/Patient/p1/Observation'), MINE);
    assert.deepEqual(await observations('/Observation'), MINE);
    assert.deepEqual(await observations('/Observation?status=final'), MINE);
    const count = await s.fhir('/Observation?_summary=count', { token });
    assert.equal(count.body.total, 2);
  });

  it('another compartment’s single-type search agrees with its `*` search', async () => {
    assert.deepEqual(await observations('/Encounter/e1/*'), MINE);
    assert.deepEqual(await observations('/Encounter/e1/Observation'), MINE);
  });

  it('the implicit compartment condition is not shown as a search parameter', async () => {
    const res = await s.fhir('/Observation?status=final', { token });
    const self = (res.body.link as Array<{ relation: string; url: string }>).find((l) => l.relation === 'self')!.url;
    assert.doesNotMatch(self, /subject=|performer=/);
  });

  it('an access policy narrowed to a compartment uses the same membership', async () => {
    const found = await call(s, 'GET', '/fhir/Observation', clerk);
    assert.equal(found.status, 200);
    assert.deepEqual(ids(found.body), MINE);
    assert.equal((await call(s, 'GET', '/fhir/Observation/perf', clerk)).status, 200);
    assert.equal((await call(s, 'GET', '/fhir/Observation/none', clerk)).status, 403);
  });
});
