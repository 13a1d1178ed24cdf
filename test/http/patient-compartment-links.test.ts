import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer, putResources } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, REDIRECT, tokenRequest } from './smart-support.js';

/**
 * A patient-context token (patient/*.rs, patient p1) may follow references —
 * `_include`, `_revinclude`, `:iterate`, chains, `_has`, `_list` — but only
 * inside p1's compartment: nothing of p2 (or outside any patient's compartment)
 * may come back, nor decide whether a match comes back. The data is built so
 * that each query below would disclose something without the limit; the admin
 * token shows it does.
 */
const resources = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Mine' }] },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] },
  { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Smith' }] },
  { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'Encounter', id: 'e2', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p2' } },
  { resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ code: 'c1' }] }, subject: { reference: 'Patient/p1' }, encounter: { reference: 'Encounter/e1' }, performer: [{ reference: 'Practitioner/dr1' }] },
  // p2's observation, pointing at p1's encounter: reachable from p1's data by _revinclude and _has.
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { coding: [{ code: 'secret' }] }, subject: { reference: 'Patient/p2' }, encounter: { reference: 'Encounter/e1' }, hasMember: [{ reference: 'Observation/o1' }] },
  // p1's panel, with a member of p2's: reachable by _include and chains.
  { resourceType: 'Observation', id: 'o3', status: 'final', code: { coding: [{ code: 'c3' }] }, subject: { reference: 'Patient/p1' }, hasMember: [{ reference: 'Observation/o2' }, { reference: 'Observation/o4' }] },
  { resourceType: 'Observation', id: 'o4', status: 'final', code: { coding: [{ code: 'c4' }] }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'List', id: 'l1', status: 'current', mode: 'working', subject: { reference: 'Patient/p1' }, entry: [{ item: { reference: 'Observation/o1' } }] },
  // p2's list that happens to name p1's observation: membership of it is p2's data.
  { resourceType: 'List', id: 'l2', status: 'current', mode: 'working', subject: { reference: 'Patient/p2' }, entry: [{ item: { reference: 'Observation/o1' } }] },
  // Another patient linked to p1: in p1's compartment by the CompartmentDefinition (Patient.link), yet not p1's to see.
  { resourceType: 'Patient', id: 'p3', name: [{ family: 'Linked' }], link: [{ other: { reference: 'Patient/p1' }, type: 'seealso' }] },
];
const OUTSIDE = ['Patient/p2', 'Patient/p3', 'Practitioner/dr1', 'Encounter/e2', 'Observation/o2', 'List/l2'];

let s: TestServer;
let token: string;

before(async () => {
  s = await startTestServer();
  await putResources(s, resources);
  const PASSWORD = 'patient passphrase 64';
  assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'pc-app', name: 'Portal', scopes: 'patient/*.rs', redirectUris: [REDIRECT] })).status, 201);
  assert.equal((await admin(s, '/auth/admin/users', { username: 'p1-user', password: PASSWORD, roles: ['patient'], patient: 'Patient/p1' })).status, 201);
  const { verifier, challenge } = pkce();
  const b = new Browser(s.baseUrl);
  const consent = await login(b, await b.go(authorizeUrl(s, { client_id: 'pc-app', scope: 'patient/*.rs', code_challenge: challenge })), 'p1-user', PASSWORD);
  const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/*.rs' });
  const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'pc-app', code_verifier: verifier });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(t.body.patient, 'p1');
  token = t.body.access_token;
});
after(async () => {
  await s?.close();
});

interface Entry {
  resource: { resourceType: string; id: string };
  search: { mode: string };
}
type Page = { matches: string[]; included: string[] };

async function searchAs(path: string, as: 'patient' | 'admin'): Promise<Page> {
  const res = await s.fhir(path, as === 'patient' ? { token } : {});
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
  const entries = ((res.body.entry ?? []) as Entry[]).filter((e) => e.search.mode !== 'outcome');
  const of = (mode: string) => entries.filter((e) => e.search.mode === mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
  return { matches: of('match'), included: of('include') };
}

/** The patient's answer, after checking nothing outside the compartment is in it. */
async function asPatient(path: string): Promise<Page> {
  const page = await searchAs(path, 'patient');
  for (const key of [...page.matches, ...page.included]) assert.ok(!OUTSIDE.includes(key), `${path} leaked ${key}`);
  return page;
}

describe('patient context: includes stay inside the compartment', () => {
  it('_include drops targets of other patients and outside the compartment, keeps the patient’s own', async () => {
    const path = '/Observation?_id=o3&_include=Observation:has-member&_include=Observation:performer&_include=Observation:subject';
    assert.deepEqual((await searchAs(path, 'admin')).included, ['Observation/o2', 'Observation/o4', 'Patient/p1'], 'without the limit o2 is included');
    const page = await asPatient(path);
    assert.deepEqual(page.matches, ['Observation/o3']);
    assert.deepEqual(page.included, ['Observation/o4', 'Patient/p1']);
    assert.deepEqual((await asPatient('/Observation?_id=o1&_include=Observation:performer&_include=Observation:encounter')).included, ['Encounter/e1']);
  });

  it('_revinclude drops referring resources of other patients', async () => {
    const path = '/Encounter?_id=e1&_revinclude=Observation:encounter';
    assert.deepEqual((await searchAs(path, 'admin')).included, ['Observation/o1', 'Observation/o2']);
    const page = await asPatient(path);
    assert.deepEqual(page.matches, ['Encounter/e1']);
    assert.deepEqual(page.included, ['Observation/o1']);
    assert.deepEqual((await asPatient('/Observation?_id=o1&_revinclude=Observation:has-member&_revinclude=List:item')).included, ['List/l1']);
  });

  it(':iterate never follows a resource outside, nor reaches one', async () => {
    const path =
      '/Patient?_id=p1&_revinclude=Observation:subject&_include:iterate=Observation:has-member&_include:iterate=Observation:encounter&_revinclude:iterate=Observation:encounter&_include:iterate=Observation:subject';
    const open = await searchAs(path, 'admin');
    assert.ok(open.included.includes('Observation/o2') && open.included.includes('Patient/p2'), 'without the limit the walk reaches p2');
    const page = await asPatient(path);
    assert.deepEqual(page.matches, ['Patient/p1']);
    assert.deepEqual(page.included, ['Encounter/e1', 'Observation/o1', 'Observation/o3', 'Observation/o4']);
  });
});

describe('patient context: chains, _has and _list match only within the compartment', () => {
  it('a chain through another patient’s resource matches nothing; within the compartment it works', async () => {
    const leak = '/Observation?has-member:Observation.subject:Patient.family=Other';
    assert.deepEqual((await searchAs(leak, 'admin')).matches, ['Observation/o3'], 'without the limit o3 reveals p2’s name');
    assert.deepEqual((await asPatient(leak)).matches, []);
    assert.deepEqual((await asPatient('/Observation?has-member:Observation.code=secret')).matches, []);
    assert.deepEqual((await asPatient('/Observation?has-member:Observation.code=c4')).matches, ['Observation/o3']);
    assert.deepEqual((await asPatient('/Observation?subject:Patient.family=Mine')).matches, ['Observation/o1', 'Observation/o3', 'Observation/o4']);
    assert.deepEqual((await searchAs('/Observation?performer:Practitioner.family=Smith', 'admin')).matches, ['Observation/o1']);
    assert.deepEqual((await asPatient('/Observation?performer:Practitioner.family=Smith')).matches, [], 'Practitioners are outside the compartment');
  });

  it('_has counts only referring resources inside the compartment, at every depth', async () => {
    const leak = '/Encounter?_has:Observation:encounter:code=secret';
    assert.deepEqual((await searchAs(leak, 'admin')).matches, ['Encounter/e1'], 'without the limit e1 reveals p2’s observation');
    assert.deepEqual((await asPatient(leak)).matches, []);
    assert.deepEqual((await asPatient('/Encounter?_has:Observation:encounter:code=c1')).matches, ['Encounter/e1']);
    assert.deepEqual((await asPatient('/Patient?_has:Observation:subject:code=c4')).matches, ['Patient/p1']);
    const nested = '/Observation?_has:Observation:has-member:_has:Observation:has-member:code=c3';
    assert.deepEqual((await searchAs(nested, 'admin')).matches, ['Observation/o1'], 'o1 ← o2 (p2) ← o3');
    assert.deepEqual((await asPatient(nested)).matches, [], 'the middle link is p2’s');
    const counted = await s.fhir('/Encounter?_has:Observation:encounter:code=secret&_total=accurate', { token });
    assert.equal(counted.body.total, 0);
  });

  it('_list matches only through the patient’s own lists', async () => {
    assert.deepEqual((await searchAs('/Observation?_list=l2', 'admin')).matches, ['Observation/o1']);
    assert.deepEqual((await asPatient('/Observation?_list=l2')).matches, [], 'l2 is p2’s');
    assert.deepEqual((await asPatient('/Observation?_list=l1')).matches, ['Observation/o1']);
  });

  it('the compartment search of another patient is refused, with includes too', async () => {
    assert.deepEqual((await searchAs('/Patient/p2/Observation', 'admin')).matches, ['Observation/o2']);
    const res = await s.fhir('/Patient/p2/Observation?_include=Observation:subject&_revinclude=Observation:has-member', { token });
    assert.equal(res.status, 403);
    assert.equal(res.body.issue[0].details.coding[0].code, 'AUTH_PATIENT_COMPARTMENT');
  });
});

async function refusedAs(path: string, init: RequestInit = {}): Promise<string> {
  const res = await s.fhir(path, { ...init, token });
  assert.equal(res.status, 403, `${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
  assert.equal(res.body.resourceType, 'OperationOutcome');
  assert.equal(res.body.issue[0].details.coding[0].code, 'AUTH_PATIENT_COMPARTMENT');
  return res.body.issue[0].diagnostics as string;
}

describe('patient context: searches spanning types cover only the compartment', () => {
  const mine = ['Encounter/e1', 'List/l1', 'Observation/o1', 'Observation/o3', 'Observation/o4', 'Patient/p1'];

  it('system-level search with _type: the admin sees both patients, the patient only its own', async () => {
    const path = '?_type=Observation,Encounter,Patient';
    const open = await searchAs(path, 'admin');
    for (const key of ['Observation/o2', 'Encounter/e2', 'Patient/p2', 'Patient/p3']) assert.ok(open.matches.includes(key), `admin sees ${key}`);
    assert.deepEqual((await asPatient(path)).matches, ['Encounter/e1', 'Observation/o1', 'Observation/o3', 'Observation/o4', 'Patient/p1']);
    assert.deepEqual((await asPatient('?_type=Observation&code=secret')).matches, []);
    const counted = await s.fhir('?_type=Observation,Encounter&_total=accurate&_count=1', { token });
    assert.equal(counted.status, 200);
    assert.equal(counted.body.total, 4);
  });

  it('system-level search without _type spans the compartment types only', async () => {
    const open = await searchAs('?_lastUpdated=gt2000-01-01', 'admin');
    assert.ok(open.matches.includes('Practitioner/dr1') && open.matches.includes('List/l2'));
    assert.deepEqual((await asPatient('?_lastUpdated=gt2000-01-01')).matches, mine);
  });

  it('links and includes of a system-level search stay inside', async () => {
    const page = await asPatient('?_type=Encounter,Observation&_id=e1,o3&_revinclude=Observation:encounter&_include=Observation:has-member');
    assert.deepEqual(page.matches, ['Encounter/e1', 'Observation/o3']);
    assert.deepEqual(page.included, ['Observation/o1', 'Observation/o4']);
    assert.deepEqual((await asPatient('?_type=Encounter&_has:Observation:encounter:code=secret')).matches, []);
    assert.deepEqual((await asPatient('?_type=Observation,List&_list=l2')).matches, []);
  });

  it('an explicitly requested type outside the compartment is refused with an OperationOutcome', async () => {
    assert.match(await refusedAs('?_type=Observation,Practitioner'), /Practitioner is not in the Patient compartment/);
    assert.match(await refusedAs('?_type=Organization'), /Organization/);
  });

  it('POST _search behaves the same', async () => {
    const res = await s.fhir('/_search', { method: 'POST', token, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '_type=Observation,Encounter' });
    assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 300));
    const keys = ((res.body.entry ?? []) as Entry[]).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
    assert.deepEqual(keys, ['Encounter/e1', 'Observation/o1', 'Observation/o3', 'Observation/o4']);
  });

  it('Patient/{own id}/* returns the compartment; another patient’s id is refused', async () => {
    const open = await searchAs('/Patient/p1/*', 'admin');
    assert.ok(open.matches.includes('Patient/p3'), 'the CompartmentDefinition puts linked patients in');
    assert.deepEqual((await asPatient('/Patient/p1/*')).matches, mine);
    assert.deepEqual((await asPatient('/Patient/p1/*?_revinclude=Observation:encounter&_id=e1')).included, ['Observation/o1']);
    assert.deepEqual((await searchAs('/Patient/p2/*', 'admin')).matches.sort(), ['Encounter/e2', 'List/l2', 'Observation/o2', 'Patient/p2']);
    assert.match(await refusedAs('/Patient/p2/*'), /Patient\/p1.*Patient\/p2/);
    await refusedAs('/Patient/p3/*');
    // Another compartment is intersected with p1's: p2's o2 points at e1 too (patient-other-compartments.test.ts).
    assert.deepEqual((await asPatient('/Encounter/e1/*')).matches, ['Encounter/e1', 'Observation/o1']);
  });
});
