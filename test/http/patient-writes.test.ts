import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf } from '../support/audit-keys.js';
import { call, createUser, seed, userToken } from './access-support.js';

/**
 * Writes under `patient/` scopes (issue 5), over real HTTP on the server's own
 * tokens: create, update, patch and delete only inside the token's patient's
 * compartment, judged by the same R4 membership as reads, on the current version
 * and on the new one; the Patient itself only updated, and only its own; the
 * scope must name the interaction. Seed: p1 with o1, o2; p2 with o3.
 */
let s: TestServer;
let user: string;
const tokens = new Map<string, string>();
const tok = async (scopes: string[]) => {
  const key = scopes.join(' ');
  if (!tokens.has(key)) tokens.set(key, await userToken(s, user, scopes, 'p1'));
  return tokens.get(key)!;
};
const obs = (patient: string | undefined, extra: Record<string, unknown> = {}) => ({
  resourceType: 'Observation', status: 'final', code: { text: 'steps' }, ...(patient ? { subject: { reference: `Patient/${patient}` } } : {}), ...extra,
});
const diagnostics = (body: any): string => body?.issue?.[0]?.diagnostics ?? '';
const subjectOf = async (id: string): Promise<string | undefined> => (await s.fhir(`/Observation/${id}`)).body?.subject?.reference;

before(async () => {
  s = await startTestServer({ HAVEN_ENV: 'test' });
  await seed(s);
  user = await createUser(s, ['patient-app']); // no roles defined in the tenant: no access policies apply
});
after(async () => s?.close());

test('create: an Observation of the token\'s own patient only', async () => {
  const t = await tok(['patient/Observation.cru']);
  const own = await call(s, 'POST', '/fhir/Observation', t, obs('p1'));
  assert.equal(own.status, 201, JSON.stringify(own.body));
  assert.equal((await call(s, 'GET', `/fhir/Observation/${own.body.id}`, t)).status, 200, 'the patient reads what it wrote');
  const other = await call(s, 'POST', '/fhir/Observation', t, obs('p2'));
  assert.equal(other.status, 403, JSON.stringify(other.body));
  assert.equal(other.body.resourceType, 'OperationOutcome');
  assert.match(diagnostics(other.body), /patient compartment/);
  assert.equal((await call(s, 'POST', '/fhir/Observation', t, obs(undefined))).status, 403, 'no subject: in no compartment');
  // performer is a Patient-compartment parameter of Observation too: the same membership as reads.
  const byPerformer = await call(s, 'POST', '/fhir/Observation', t, obs(undefined, { performer: [{ reference: 'Patient/p1' }] }));
  assert.equal(byPerformer.status, 201, 'linked to the patient through performer only, as a read would accept');
  const alsoP2 = await call(s, 'POST', '/fhir/Observation', t, obs('p2', { performer: [{ reference: 'Patient/p1' }] }));
  assert.equal(alsoP2.status, 403, 'in its compartment but also in p2\'s: that would put data into another patient\'s compartment');
  assert.match(diagnostics(alsoP2.body), /another patient/);
  assert.equal((await s.fhir('/Observation?subject=Patient/p2&_summary=count')).body.total, 1, 'only o3: the refused creates left nothing');
  const practitioner = await call(s, 'POST', '/fhir/Practitioner', await tok(['patient/*.cru']), { resourceType: 'Practitioner', name: [{ family: 'X' }] });
  assert.equal(practitioner.status, 403, 'a type outside the Patient compartment');
});

test('update and patch: own resource, content staying in the compartment; another patient\'s id looks like a missing one', async () => {
  const t = await tok(['patient/Observation.cru']);
  const own = await call(s, 'PUT', '/fhir/Observation/o1', t, { ...obs('p1'), id: 'o1', status: 'amended' });
  assert.equal(own.status, 200, JSON.stringify(own.body));
  const other = await call(s, 'PUT', '/fhir/Observation/o3', t, { ...obs('p1'), id: 'o3' });
  assert.equal(other.status, 403);
  const missing = await call(s, 'PUT', '/fhir/Observation/nope-1', t, { ...obs('p1'), id: 'nope-1' });
  assert.equal(missing.status, 403, 'no update-as-create: it would tell a free id from another patient\'s');
  assert.equal(diagnostics(missing.body), diagnostics(other.body), 'the same answer for another patient\'s id and a missing one');
  assert.equal(await subjectOf('o3'), 'Patient/p2');
  const moved = await call(s, 'PUT', '/fhir/Observation/o2', t, { ...obs('p2'), id: 'o2' });
  assert.equal(moved.status, 403, 'moving its own Observation to another patient');
  assert.equal(await subjectOf('o2'), 'Patient/p1');
  const patchOwn = await call(s, 'PATCH', '/fhir/Observation/o2', t, [{ op: 'replace', path: '/status', value: 'amended' }]);
  assert.equal(patchOwn.status, 200, JSON.stringify(patchOwn.body));
  const patchMove = await call(s, 'PATCH', '/fhir/Observation/o2', t, [{ op: 'replace', path: '/subject', value: { reference: 'Patient/p2' } }]);
  assert.equal(patchMove.status, 403);
  assert.equal(await subjectOf('o2'), 'Patient/p1');
  assert.equal((await call(s, 'PATCH', '/fhir/Observation/o3', t, [{ op: 'replace', path: '/status', value: 'amended' }])).status, 403);
});

test('the scope must name the interaction: .rs cannot write, delete needs d; v1 .write grants c, u, d', async () => {
  const rs = await tok(['patient/Observation.rs']);
  assert.equal((await call(s, 'POST', '/fhir/Observation', rs, obs('p1'))).status, 403);
  assert.equal((await call(s, 'PUT', '/fhir/Observation/o1', rs, { ...obs('p1'), id: 'o1' })).status, 403);
  const cru = await tok(['patient/Observation.cru']);
  const created = await call(s, 'POST', '/fhir/Observation', cru, obs('p1'));
  assert.equal((await call(s, 'DELETE', `/fhir/Observation/${created.body.id}`, cru)).status, 403, 'no d');
  const cud = await tok(['patient/Observation.cud']);
  assert.equal((await call(s, 'DELETE', `/fhir/Observation/${created.body.id}`, cud)).status, 200);
  assert.equal((await call(s, 'DELETE', '/fhir/Observation/o3', cud)).status, 403, 'another patient\'s');
  assert.equal((await s.fhir('/Observation/o3')).status, 200, 'still there');
  assert.equal((await call(s, 'DELETE', '/fhir/Observation/nope-2', cud)).status, 403, 'a missing id answers as another patient\'s');
  const v1 = await tok(['patient/Observation.write']);
  assert.equal((await call(s, 'POST', '/fhir/Observation', v1, obs('p1'))).status, 201);
  assert.equal((await call(s, 'POST', '/fhir/Observation', v1, obs('p2'))).status, 403);
  const granular = await tok(['patient/Observation.cruds?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory']);
  assert.equal((await call(s, 'POST', '/fhir/Observation', granular, obs('p1'))).status, 403, 'granular scopes still grant no writes');
});

test('a resource also in another patient\'s compartment keeps that link: editable, not unlinkable nor deletable', async () => {
  const shared = await s.fhir('/Observation', { method: 'POST', json: obs('p1', { performer: [{ reference: 'Patient/p2' }] }) });
  assert.equal(shared.status, 201);
  const id = shared.body.id as string;
  const t = await tok(['patient/Observation.cruds']);
  const edit = await call(s, 'PUT', `/fhir/Observation/${id}`, t, { ...obs('p1', { performer: [{ reference: 'Patient/p2' }] }), id, status: 'amended' });
  assert.equal(edit.status, 200, JSON.stringify(edit.body));
  const unlink = await call(s, 'PUT', `/fhir/Observation/${id}`, t, { ...obs('p1'), id });
  assert.equal(unlink.status, 403, 'removing it from p2\'s compartment');
  assert.match(diagnostics(unlink.body), /another patient/);
  assert.equal((await call(s, 'DELETE', `/fhir/Observation/${id}`, t)).status, 403);
  assert.equal((await s.fhir(`/Observation/${id}`)).body.performer[0].reference, 'Patient/p2');
  const link = await call(s, 'PUT', '/fhir/Observation/o1', t, { ...obs('p1', { performer: [{ reference: 'Patient/p2' }] }), id: 'o1' });
  assert.equal(link.status, 403, 'adding its own Observation to p2\'s compartment');
});

test('Patient: patient/Patient.u updates the token\'s own Patient only; never create or delete', async () => {
  const t = await tok(['patient/Patient.u']);
  const own = await call(s, 'PUT', '/fhir/Patient/p1', t, { resourceType: 'Patient', id: 'p1', name: [{ family: 'Famp1', given: ['Ann'] }] });
  assert.equal(own.status, 200, JSON.stringify(own.body));
  assert.equal((await call(s, 'PUT', '/fhir/Patient/p2', t, { resourceType: 'Patient', id: 'p2', name: [{ family: 'Mine' }] })).status, 403);
  assert.equal((await s.fhir('/Patient/p2')).body.name[0].family, 'Famp2');
  const linked = await call(s, 'PUT', '/fhir/Patient/p1', t, { resourceType: 'Patient', id: 'p1', link: [{ other: { reference: 'Patient/p2' }, type: 'seealso' }] });
  assert.equal(linked.status, 403, 'a link to another Patient would put it in that compartment (R4)');
  assert.match(diagnostics(linked.body), /another patient/);
  const all = await tok(['patient/Patient.cruds']);
  assert.equal((await call(s, 'POST', '/fhir/Patient', all, { resourceType: 'Patient', name: [{ family: 'New' }] })).status, 403);
  assert.equal((await call(s, 'DELETE', '/fhir/Patient/p1', all)).status, 403);
  assert.equal((await s.fhir('/Patient/p1')).status, 200);
});

test('conditional writes see only the patient\'s compartment', async () => {
  const ident = { identifier: [{ system: 'urn:test:cond', value: 'shared' }] };
  const theirs = await s.fhir('/Observation', { method: 'POST', json: obs('p2', ident) });
  assert.equal(theirs.status, 201);
  const t = await tok(['patient/Observation.cruds']);
  const headers = { authorization: `Bearer ${t}`, 'content-type': 'application/fhir+json', 'if-none-exist': 'identifier=urn:test:cond|shared' };
  const created = await fetch(`${s.fhirUrl}/Observation`, { method: 'POST', headers, body: JSON.stringify(obs('p1', ident)) });
  assert.equal(created.status, 201, 'another patient\'s match is not seen (nor disclosed): a new one is created');
  const again = await fetch(`${s.fhirUrl}/Observation`, { method: 'POST', headers, body: JSON.stringify(obs('p1', ident)) });
  assert.equal(again.status, 200, 'its own match is found');
  const removed = await call(s, 'DELETE', '/fhir/Observation?identifier=urn:test:cond|shared&subject=Patient/p2', t);
  assert.equal(removed.status, 204, 'nothing of p2 matches inside the compartment');
  assert.equal((await s.fhir(`/Observation/${theirs.body.id}`)).status, 200);
  const moved = await call(s, 'PUT', '/fhir/Observation?identifier=urn:test:cond|shared', t, obs('p2', ident));
  assert.equal(moved.status, 403, 'conditional update matching its own resource cannot move it');
});

test('transaction and batch Bundles: the same rules per entry', async () => {
  const t = await tok(['patient/Observation.cru']);
  const before = (await s.fhir('/Observation?_summary=count')).body.total;
  const tx = await call(s, 'POST', '/fhir', t, {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:6f3c1a52-0000-4000-8000-000000000001', resource: obs('p1'), request: { method: 'POST', url: 'Observation' } },
      { resource: { ...obs('p1'), id: 'o3' }, request: { method: 'PUT', url: 'Observation/o3' } },
    ],
  });
  assert.equal(tx.status, 403, JSON.stringify(tx.body));
  assert.equal((await s.fhir('/Observation?_summary=count')).body.total, before, 'the transaction wrote nothing');
  const ok = await call(s, 'POST', '/fhir', t, {
    resourceType: 'Bundle', type: 'transaction', entry: [{ resource: obs('p1'), request: { method: 'POST', url: 'Observation' } }],
  });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.match(ok.body.entry[0].response.status, /^201/);
  const batch = await call(s, 'POST', '/fhir', t, {
    resourceType: 'Bundle', type: 'batch', entry: [
      { resource: obs('p1'), request: { method: 'POST', url: 'Observation' } },
      { resource: obs('p2'), request: { method: 'POST', url: 'Observation' } },
    ],
  });
  assert.equal(batch.status, 200, JSON.stringify(batch.body));
  assert.deepEqual(batch.body.entry.map((e: any) => e.response.status.slice(0, 3)), ['201', '403']);
});

test('audited as any write: the create names the new resource; the refusal is a failure entry', async () => {
  const t = await tok(['patient/Observation.cru']);
  const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
  const ok = await call(s, 'POST', '/fhir/Observation', t, obs('p1'));
  assert.equal(ok.status, 201);
  assert.equal((await call(s, 'POST', '/fhir/Observation', t, obs('p2'))).status, 403);
  const keys = auditKeysOf(s.testDb.db, s.dataDir);
  const entries = (await keys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before])).filter((e) => e.action === 'create');
  await keys.close();
  assert.deepEqual(entries.map((e) => [e.outcome, e.outcomeCode]), [['success', undefined], ['failure', 'AUTH_PATIENT_COMPARTMENT']]);
  assert.deepEqual(entries[0]!.resources.map((r) => `${r.type}/${r.id}`), [`Observation/${ok.body.id}`]);
});

test('an update that would change nothing is still judged by the guard: another patient\'s resource, sent back unchanged, is 403', async () => {
  const t = await tok(['patient/Observation.cru']);
  const o3 = (await s.fhir('/Observation/o3')).body;
  const other = await call(s, 'PUT', '/fhir/Observation/o3', t, o3);
  assert.equal(other.status, 403, JSON.stringify(other.body));
  const o1 = (await s.fhir('/Observation/o1')).body;
  const own = await call(s, 'PUT', '/fhir/Observation/o1', t, o1);
  assert.equal(own.status, 200, JSON.stringify(own.body));
  assert.equal(own.body.meta.versionId, o1.meta.versionId, 'its own, unchanged: no new version');
});
