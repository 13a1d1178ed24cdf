import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchToken } from '../../src/cli/client.js';
import { clientKeys } from '../auth/harness.js';
import { waitForManifest } from '../bulk/support.js';
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
  contentType?: string;
  expect: Record<Kind, number>;
}

const row = (name: string, method: string, path: string, e: number[], body?: unknown, contentType?: string): Row => ({
  name, method, path, ...(body !== undefined ? { body } : {}), ...(contentType ? { contentType } : {}),
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
  // Issue 5's "every route": the rest of the FHIR interactions and operations, and every admin route.
  row('vread own', 'GET', '/fhir/Patient/p1/_history/1', [200, 200, 200, 200, 401]),
  row('vread other', 'GET', '/fhir/Patient/p2/_history/1', [200, 200, 403, 403, 401]),
  row('patch', 'PATCH', '/fhir/Patient/p1', [200, 403, 403, 403, 401], [{ op: 'add', path: '/active', value: true }], 'application/json-patch+json'),
  row('compartment search own', 'GET', '/fhir/Patient/p1/Observation', [200, 200, 403, 200, 401]),
  row('compartment search other', 'GET', '/fhir/Patient/p2/*', [200, 200, 403, 403, 401]),
  row('type history', 'GET', '/fhir/Patient/_history', [200, 200, 403, 403, 401]),
  // A batch is accepted from any token; each entry is judged as its own request (smart-launch.test.ts: 403 inside).
  row('batch', 'POST', '/fhir', [200, 200, 200, 200, 401], { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient/p2' } }] }),
  // $validate discloses nothing stored: a read scope on the type suffices (role policies: the operations interaction).
  row('validate', 'POST', '/fhir/Patient/$validate', [200, 200, 403, 200, 401], { resourceType: 'Patient' }),
  // $everything takes unfiltered system/ scopes only, and refuses others before looking the patient up (no existence oracle).
  row('everything', 'GET', '/fhir/Patient/p1/$everything', [200, 200, 403, 403, 401]),
  row('everything other', 'GET', '/fhir/Patient/p2/$everything', [200, 200, 403, 403, 401]),
  row('everything unknown', 'GET', '/fhir/Patient/nobody/$everything', [404, 404, 403, 403, 401]),
  row('system export', 'GET', '/fhir/$export', [202, 202, 403, 403, 401]),
  row('group export', 'GET', '/fhir/Group/g1/$export', [404, 404, 403, 403, 401]),
  row('disclosures', 'GET', '/fhir/Patient/p1/$disclosures', [200, 403, 403, 403, 401]),
  // Admin: authorised, but no signed head exists yet in this test (404).
  row('audit tree head', 'GET', '/audit/tree-head', [404, 403, 403, 403, 401]),
  row('hl7v2 messages', 'GET', '/hl7v2/messages', [200, 200, 403, 403, 401]),
  row('hl7v2 replay', 'POST', '/hl7v2/messages/no-such-message/$replay', [404, 403, 403, 403, 401], {}),
  row('audit proof', 'GET', '/audit/proof/inclusion?seq=0&treeSize=1', [404, 403, 403, 403, 401]),
  // $import needs a system/ write scope, checked before the body is read (admin: the empty body is then 400).
  row('bulk import', 'POST', '/fhir/$import', [400, 403, 403, 403, 401], { resourceType: 'Parameters' }),
  // Kick-off starts a background job (side effect): one small type, admin only like its status.
  row('reindex kick-off', 'POST', '/fhir/Organization/$reindex', [202, 403, 403, 403, 401], {}),
  row('reindex status', 'GET', '/fhir/$reindex/no-such-job', [404, 403, 403, 403, 401]),
  row('bulk file', 'GET', '/bulk/files/no-such-job/1', [404, 404, 404, 404, 401]),
  // An unknown job is 404 to every token (the owner check cannot tell more).
  row('bulk status', 'GET', '/bulk/status/no-such-job', [404, 404, 404, 404, 401]),
  row('client registration', 'POST', '/auth/admin/clients', [201, 403, 403, 403, 401], { clientId: 'matrix-new', name: 'New', scopes: 'patient/*.rs', redirectUris: ['http://127.0.0.1:9/cb'] }),
  row('user creation', 'POST', '/auth/admin/users', [201, 403, 403, 403, 401], { username: 'matrix-new-user', password: 'correct horse battery', roles: ['clerk'] }),
  row('EHR launch registration', 'POST', '/auth/admin/launch', [201, 403, 403, 403, 401], { patient: 'p1' }),
  row('tenant settings', 'GET', '/auth/admin/settings', [200, 403, 403, 403, 401]),
  row('tenant settings change', 'PATCH', '/auth/admin/settings', [200, 403, 403, 403, 401], { sessionIdleMinutes: 15 }),
  row('user disable', 'POST', '/auth/admin/users/matrix-spare/disable', [200, 403, 403, 403, 401], {}),
  row('user enable', 'POST', '/auth/admin/users/matrix-spare/enable', [200, 403, 403, 403, 401], {}),
  row('TOTP reset', 'DELETE', '/auth/admin/users/matrix-spare/totp', [200, 403, 403, 403, 401]),
  row('user update (fhirUser link)', 'PATCH', '/auth/admin/users/matrix-spare', [200, 403, 403, 403, 401], { fhirUser: null }),
  // Unknown ids: past the role check, the admin gets the store's answer (409 unknown or reviewed, 404).
  row('alert review', 'POST', '/auth/admin/alerts/no-such-alert/review', [409, 403, 403, 403, 401], { note: 'matrix' }),
  row('elevation decision', 'POST', '/auth/elevations/no-such-request/approve', [404, 403, 403, 403, 401], {}),
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
  assert.equal((await call(s, 'POST', '/auth/admin/users', await s.token(), { username: 'matrix-spare', password: 'correct horse battery', roles: ['clerk'] })).status, 201);
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
      const headers: Record<string, string> | undefined = r.path.includes('$export') ? { prefer: 'respond-async', accept: 'application/fhir+json' }
        : r.path.includes('$import') ? { prefer: 'respond-async', 'content-type': 'application/fhir+json' }
        : r.contentType ? { 'content-type': r.contentType } : undefined;
      const body = r.body !== undefined ? { body: JSON.stringify(r.body) } : {};
      const res = headers
        ? await fetch(`${s.baseUrl}${r.path}`, { method: r.method, ...body, headers: { ...headers, ...(tokens.get(kind) ? { authorization: `Bearer ${tokens.get(kind)}` } : {}) } }).then(async (x) => ({ status: x.status, body: await x.text() }))
        : await call(s, r.method, r.path, tokens.get(kind)!, r.body);
      if (res.status !== r.expect[kind]) wrong.push(`${r.name} (${r.method} ${r.path}) as ${kind}: ${res.status}, expected ${r.expect[kind]}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('a bulk job, its files and its cancellation belong to the client that started it', async () => {
  const admin = tokens.get('admin')!;
  const kick = await fetch(`${s.fhirUrl}/$export?_type=Patient`, { headers: { authorization: `Bearer ${admin}`, prefer: 'respond-async', accept: 'application/fhir+json' } });
  assert.equal(kick.status, 202);
  const statusUrl = kick.headers.get('content-location')!;
  const manifest = await waitForManifest(statusUrl, admin);
  const file = manifest.output[0]!.url;
  // Every other caller, the other system client included: 404 (nothing said about the job), 401 without a token.
  for (const kind of ['system', 'workforce', 'patient', 'none'] as const) {
    const auth: Record<string, string> = tokens.get(kind) ? { authorization: `Bearer ${tokens.get(kind)}` } : {};
    const expected = kind === 'none' ? 401 : 404;
    for (const [method, url] of [['GET', statusUrl], ['GET', file], ['DELETE', statusUrl]] as const) {
      const res = await fetch(url, { method, headers: auth });
      await res.text();
      assert.equal(res.status, expected, `${method} ${url.replace(s.baseUrl, '')} as ${kind}`);
    }
  }
  const own = await fetch(file, { headers: { authorization: `Bearer ${admin}` } });
  assert.equal(own.status, 200, 'the starting client still downloads it');
  assert.match(await own.text(), /"resourceType":"Patient"/);
});
