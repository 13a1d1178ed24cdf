import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchToken } from '../../src/cli/client.js';
import { clientKeys } from '../auth/harness.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { call, createUser, putRole, seed, userToken } from './access-support.js';

/**
 * Authorization matrix over real HTTP: every route group × every kind of
 * caller, allowed exactly where intended. A cell is the expected status; the
 * table is the specification (docs/security/identity.md, Access policies).
 */
type Kind = 'admin' | 'system' | 'workforce' | 'patient' | 'none';
const KINDS: Kind[] = ['admin', 'system', 'workforce', 'patient', 'none'];

interface Row {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  expect: Record<Kind, number>;
}

const row = (name: string, method: string, path: string, e: number[], body?: unknown): Row => ({
  name, method, path, ...(body !== undefined ? { body } : {}),
  expect: { admin: e[0]!, system: e[1]!, workforce: e[2]!, patient: e[3]!, none: e[4]! },
});

//                                                                      admin system workforce patient none
const MATRIX: Row[] = [
  row('capabilities', 'GET', '/fhir/metadata', [200, 200, 200, 200, 200]),
  row('read in policy / own patient', 'GET', '/fhir/Patient/p1', [200, 200, 200, 200, 401]),
  row('read outside policy / other patient', 'GET', '/fhir/Patient/p2', [200, 200, 403, 403, 401]),
  row('search, policy grants the type', 'GET', '/fhir/Patient', [200, 200, 200, 200, 401]),
  row('search, type without policy', 'GET', '/fhir/Observation', [200, 200, 403, 200, 401]),
  row('create', 'POST', '/fhir/Patient', [201, 403, 403, 403, 401], { resourceType: 'Patient' }),
  row('update', 'PUT', '/fhir/Organization/org1', [200, 403, 403, 403, 401], { resourceType: 'Organization', id: 'org1', name: 'One' }),
  row('delete', 'DELETE', '/fhir/Observation/o3', [200, 403, 403, 403, 401]),
  row('instance history', 'GET', '/fhir/Patient/p1/_history', [200, 200, 403, 200, 401]),
  row('system history', 'GET', '/fhir/_history', [200, 200, 403, 403, 401]),
  // A patient token searches system-wide only within its own compartment (issue 5); other types are refused.
  row('system search', 'GET', '/fhir?_type=Patient', [200, 200, 403, 200, 401]),
  row('system search outside the compartment', 'GET', '/fhir?_type=Practitioner', [200, 200, 403, 403, 401]),
  row('bulk export', 'GET', '/fhir/Patient/$export', [202, 202, 403, 403, 401]),
  row('roles admin', 'GET', '/auth/admin/roles', [200, 403, 403, 403, 401]),
  row('role change', 'PUT', '/auth/admin/roles/temp', [201, 403, 403, 403, 401], { policies: [] }),
  row('security alerts', 'GET', '/auth/admin/alerts', [200, 403, 403, 403, 401]),
  row('elevation queue', 'GET', '/auth/elevations', [200, 403, 403, 403, 401]),
  row('elevation request', 'POST', '/auth/elevations', [403, 403, 201, 403, 401], { role: 'clerk', minutes: 5, reason: 'matrix test request' }),
  row('break-glass', 'POST', '/auth/break-glass', [403, 403, 403, 403, 401], { reason: 'matrix test emergency' }),
];

let s: TestServer;
const tokens = new Map<Kind, string | null>();

before(async () => {
  s = await startTestServer({ HAVEN_ENV: 'test' });
  await seed(s);
  await putRole(s, 'clerk', { policies: [{ resourceType: 'Patient', interactions: ['read', 'search'], criteria: 'organization=Organization/org1' }] });
  const keys = await clientKeys('ES384');
  const reg = await call(s, 'POST', '/auth/admin/clients', await s.token(), {
    clientId: 'reader', name: 'Reader', scopes: ['system/*.rs'], authMethod: 'private_key_jwt', jwks: { keys: [keys.publicJwk] },
  });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const patientUser = await call(s, 'POST', '/auth/admin/users', await s.token(), { username: 'matrix-patient', password: 'correct horse battery', roles: ['patient'], patient: 'Patient/p1' });
  assert.equal(patientUser.status, 201, JSON.stringify(patientUser.body));
  tokens.set('admin', await s.token());
  tokens.set('system', (await fetchToken(s.baseUrl, { clientId: 'reader', privateJwk: keys.privateJwk } as never, 'system/*.rs')).token);
  tokens.set('workforce', await userToken(s, await createUser(s, ['clerk'])));
  tokens.set('patient', await userToken(s, patientUser.body.userId, ['patient/*.rs'], 'p1'));
  tokens.set('none', null);
});
after(async () => s?.close());

test('authorization matrix: route groups × caller kinds', async () => {
  const wrong: string[] = [];
  // Writes by the admin run last so the other kinds see the seeded data.
  for (const kind of [...KINDS].reverse()) {
    for (const r of MATRIX) {
      const headers = r.path.includes('$export') ? { prefer: 'respond-async', accept: 'application/fhir+json' } : undefined;
      const res = headers
        ? await fetch(`${s.baseUrl}${r.path}`, { method: r.method, headers: { ...headers, ...(tokens.get(kind) ? { authorization: `Bearer ${tokens.get(kind)}` } : {}) } }).then(async (x) => ({ status: x.status, body: await x.text() }))
        : await call(s, r.method, r.path, tokens.get(kind)!, r.body);
      if (res.status !== r.expect[kind]) wrong.push(`${r.name} (${r.method} ${r.path}) as ${kind}: ${res.status}, expected ${r.expect[kind]}`);
    }
  }
  assert.deepEqual(wrong, []);
});
