import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { auditKeysOf } from '../support/audit-keys.js';
import { startTestServer, type TestServer, putResources } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, REDIRECT, tokenRequest } from './smart-support.js';

/**
 * A patient-context token may search compartments other than Patient
 * (`Encounter/e1/Observation`, `Practitioner/dr1/*`, `Device/d1/…`): the
 * compartment's condition AND the patient's own compartment, in SQL, with the
 * scopes checked per type. p2's Observation points at p1's Encounter, p1's
 * Practitioner and p1's Device, so every query below would return it without
 * the patient filter (the admin token shows it does); the patient never sees it.
 */
const resources = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Mine' }] },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] },
  { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Smith' }] },
  { resourceType: 'Device', id: 'd1', patient: { reference: 'Patient/p1' } },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' }, participant: [{ individual: { reference: 'Practitioner/dr1' } }] },
  { resourceType: 'Encounter', id: 'e2', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p2' } },
  { resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ code: 'c1' }] }, subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' }, performer: [{ reference: 'Practitioner/dr1' }], device: { reference: 'Device/d1' } },
  // p2's, in p1's Encounter, by p1's practitioner, with p1's device: what must never reach p1.
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { coding: [{ code: 'secret' }] }, subject: { reference: 'Patient/p2' }, encounter: { reference: 'Encounter/e1' }, performer: [{ reference: 'Practitioner/dr1' }], device: { reference: 'Device/d1' } },
  { resourceType: 'Observation', id: 'o3', status: 'final', code: { coding: [{ code: 'c3' }] }, subject: { reference: 'Patient/p2' }, encounter: { reference: 'Encounter/e2' } },
  { resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' } },
];
const OUTSIDE = ['Patient/p2', 'Practitioner/dr1', 'Encounter/e2', 'Observation/o2', 'Observation/o3'];
const PASSWORD = 'patient passphrase 64';

let s: TestServer;
const tokens: Record<string, string> = {};

/** A SMART standalone launch of p1's user for a client allowed exactly `scope`. */
async function patientToken(clientId: string, scope: string): Promise<string> {
  assert.equal((await admin(s, '/auth/admin/clients', { clientId, name: clientId, scopes: scope, redirectUris: [REDIRECT] })).status, 201);
  const { verifier, challenge } = pkce();
  const b = new Browser(s.baseUrl);
  const consent = await login(b, await b.go(authorizeUrl(s, { client_id: clientId, scope, code_challenge: challenge })), 'p1-user', PASSWORD);
  const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: scope.split(' ') });
  const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: clientId, code_verifier: verifier });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.patient, 'p1');
  assert.equal(t.body.scope, scope);
  return t.body.access_token as string;
}

before(async () => {
  s = await startTestServer();
  await putResources(s, resources);
  assert.equal((await admin(s, '/auth/admin/users', { username: 'p1-user', password: PASSWORD, roles: ['patient'], patient: 'Patient/p1' })).status, 201);
  tokens['all'] = await patientToken('oc-all', 'patient/*.rs');
  tokens['encounters'] = await patientToken('oc-enc', 'patient/Encounter.rs');
  tokens['observations'] = await patientToken('oc-obs', 'patient/Observation.rs');
});
after(async () => {
  await s?.close();
});

interface Entry {
  resource: { resourceType: string; id: string };
  search: { mode: string };
}

/** The matches of a search, after checking (for a patient token) that nothing outside p1's compartment is among them. */
async function matches(path: string, token: string | undefined, requestId?: string): Promise<string[]> {
  const res = await s.fhir(path, { ...(token ? { token } : {}), ...(requestId ? { headers: { 'x-request-id': requestId } } : {}) });
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
  const found = ((res.body.entry ?? []) as Entry[]).filter((e) => e.search.mode !== 'outcome').map((e) => `${e.resource.resourceType}/${e.resource.id}`);
  if (token) for (const key of found) assert.ok(!OUTSIDE.includes(key), `${path} leaked ${key}`);
  return found.sort();
}

async function refused(path: string, token: string, code: string): Promise<void> {
  const res = await s.fhir(path, { token });
  assert.equal(res.status, 403, `${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
  assert.match(JSON.stringify(res.body), new RegExp(code));
}

describe('patient context: compartments other than Patient', () => {
  it('the admin token shows the data would leak: p2’s Observation is in each of these compartments', async () => {
    assert.deepEqual(await matches('/Encounter/e1/Observation', undefined), ['Observation/o1', 'Observation/o2']);
    assert.deepEqual(await matches('/Encounter/e1/*', undefined), ['Condition/c1', 'Encounter/e1', 'Observation/o1', 'Observation/o2']);
    assert.deepEqual(await matches('/Practitioner/dr1/Observation', undefined), ['Observation/o1', 'Observation/o2']);
    assert.deepEqual(await matches('/Device/d1/Observation', undefined), ['Observation/o1', 'Observation/o2']);
  });

  it('a type search of another compartment lists the patient’s own resources of it, never another patient’s', async () => {
    const all = tokens['all']!;
    assert.deepEqual(await matches('/Encounter/e1/Observation', all), ['Observation/o1']);
    assert.deepEqual(await matches('/Encounter/e1/Condition', all), ['Condition/c1']);
    assert.deepEqual(await matches('/Practitioner/dr1/Observation', all), ['Observation/o1']);
    assert.deepEqual(await matches('/Device/d1/Observation', all), ['Observation/o1']);
    assert.deepEqual(await matches('/Encounter/e1/Observation?code=secret', all), [], 'p2’s Observation cannot decide a match either');
    // POST _search takes the same path.
    const posted = await s.fhir('/Encounter/e1/Observation/_search', { method: 'POST', token: all, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'status=final' });
    assert.equal(posted.status, 200);
    assert.deepEqual(((posted.body.entry ?? []) as Entry[]).map((e) => `${e.resource.resourceType}/${e.resource.id}`), ['Observation/o1']);
  });

  it('a * search of another compartment covers the patient’s compartment’s types only, each branch limited to the patient', async () => {
    const all = tokens['all']!;
    assert.deepEqual(await matches('/Encounter/e1/*', all), ['Condition/c1', 'Encounter/e1', 'Observation/o1']);
    // The Practitioner compartment's own types (Practitioner, …) are not the patient's to list; its Observations and Encounters are.
    assert.deepEqual(await matches('/Practitioner/dr1/*', all), ['Encounter/e1', 'Observation/o1']);
    // Device is in the R4 Patient compartment without a parameter (not a member): d1 itself is not listed, as it is not readable.
    assert.deepEqual(await matches('/Device/d1/*', all), ['Observation/o1']);
    assert.deepEqual(await matches('/Encounter/e1/*?_include=Observation:performer&_revinclude=Observation:encounter', all), ['Condition/c1', 'Encounter/e1', 'Observation/o1']);
  });

  it('an Encounter that is not the patient’s gives an empty result, as the same search by parameter does', async () => {
    const all = tokens['all']!;
    assert.deepEqual(await matches('/Encounter/e2/Observation', all), []);
    assert.deepEqual(await matches('/Observation?encounter=Encounter/e2', all), [], 'the equivalent type search');
    assert.deepEqual(await matches('/Encounter/e2/*', all), []);
    assert.deepEqual(await matches('/Encounter/missing/*', all), [], 'the same answer whether or not it exists');
    // Another patient's compartment stays refused outright (the token's own boundary).
    await refused('/Patient/p2/Observation', all, 'AUTH_PATIENT_COMPARTMENT');
    await refused('/Patient/p2/*', all, 'AUTH_PATIENT_COMPARTMENT');
  });

  it('the scopes apply per type: a type the token lacks is refused by name, and left out of a * search', async () => {
    await refused('/Encounter/e1/Observation', tokens['encounters']!, 'AUTH_SCOPE_INSUFFICIENT');
    assert.deepEqual(await matches('/Encounter/e1/*', tokens['encounters']!), ['Encounter/e1']);
    assert.deepEqual(await matches('/Encounter/e1/*', tokens['observations']!), ['Observation/o1']);
    await refused('/Encounter/e1/Condition', tokens['observations']!, 'AUTH_SCOPE_INSUFFICIENT');
  });

  it('the search is audited with exactly the resources returned', async () => {
    const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
    assert.deepEqual(await matches('/Encounter/e1/*', tokens['all']!, 'other-compartment-audit'), ['Condition/c1', 'Encounter/e1', 'Observation/o1']);
    const keys = auditKeysOf(s.testDb.db, s.dataDir);
    const entries = await keys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before]);
    await keys.close();
    const named = entries
      .filter((e) => e.requestId === 'other-compartment-audit')
      .flatMap((e) => e.resources.map((r) => `${r.type}/${r.id}`))
      .sort();
    assert.deepEqual(named, ['Condition/c1', 'Encounter/e1', 'Observation/o1']);
  });
});
