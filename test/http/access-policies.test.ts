import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { auditKeysOf } from '../support/audit-keys.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { call, createUser, ids, included, putRole, seed, userToken } from './access-support.js';

/**
 * Access policies over real HTTP: criteria compiled into the search SQL,
 * existence checks for read, writes checked inside the transaction, includes
 * filtered, elements hidden.
 */
let s: TestServer;
let clerk: string;
let writer: string;

before(async () => {
  s = await startTestServer({ HAVEN_ENV: 'test' });
  await seed(s);
  const roles = {
    'org1-clerk': {
      policies: [
        { resourceType: 'Patient', interactions: ['read', 'search'], criteria: 'organization=Organization/org1', hide: ['telecom', 'address'] },
        { resourceType: 'Observation', interactions: ['read', 'search'], criteria: 'Observation?category=laboratory' },
        { resourceType: 'Observation', interactions: ['read', 'search'], criteria: 'category=vital-signs', compartment: 'Patient/p1' },
      ],
    },
    'org1-writer': { policies: [{ resourceType: 'Patient', interactions: ['read', 'search', 'create', 'update', 'delete'], criteria: 'organization=Organization/org1' }] },
  };
  for (const [name, def] of Object.entries(roles)) assert.equal((await putRole(s, name, def)).status, 201);
  clerk = await userToken(s, await createUser(s, ['org1-clerk']));
  writer = await userToken(s, await createUser(s, ['org1-writer']));
});
after(async () => s?.close());

test('search: policy criteria are AND-ed into the SQL, several policies OR-ed', async () => {
  const patients = await call(s, 'GET', '/fhir/Patient', clerk);
  assert.equal(patients.status, 200);
  assert.deepEqual(ids(patients.body), ['Patient/p1']);
  assert.equal(patients.body.total, 1, 'the total counts only what the policy allows');
  const obs = await call(s, 'GET', '/fhir/Observation', clerk);
  // o1 (laboratory), o2 (vital-signs of p1); o3 is laboratory too (OR of the two policies)
  assert.deepEqual(ids(obs.body), ['Observation/o1', 'Observation/o2', 'Observation/o3']);
  const vitals = await call(s, 'GET', '/fhir/Observation?category=vital-signs', clerk);
  assert.deepEqual(ids(vitals.body), ['Observation/o2']);
});

test('read and vread: allowed only when the resource matches the criteria; 403 either way otherwise', async () => {
  assert.equal((await call(s, 'GET', '/fhir/Patient/p1', clerk)).status, 200);
  const p2 = await call(s, 'GET', '/fhir/Patient/p2', clerk);
  assert.equal(p2.status, 403);
  assert.equal(p2.body.issue[0].details.coding[0].code, 'AUTH_POLICY_DENIED');
  assert.equal((await call(s, 'GET', '/fhir/Patient/does-not-exist', clerk)).status, 403, 'existence is not disclosed');
  assert.equal((await call(s, 'GET', '/fhir/Patient/p2/_history/1', clerk)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p1/_history/1', clerk)).status, 200);
});

test('hidden elements are removed from reads, searches and includes, and the resource is labelled REDACTED', async () => {
  const read = await call(s, 'GET', '/fhir/Patient/p1', clerk);
  assert.equal(read.body.telecom, undefined);
  assert.equal(read.body.address, undefined);
  assert.deepEqual(read.body.name, [{ family: 'Famp1' }]);
  assert.ok(read.body.meta.security.some((c: any) => c.code === 'REDACTED'));
  const search = await call(s, 'GET', '/fhir/Patient?_id=p1', clerk);
  assert.equal(search.body.entry[0].resource.telecom, undefined);
  const admin = await s.fhir('/Patient/p1');
  assert.equal(admin.body.telecom[0].value, '555-0100', 'other principals see the full resource');
});

test('includes: included resources pass the same policy; the search entry names only what was sent', async () => {
  const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
  const res = await call(s, 'GET', '/fhir/Observation?category=laboratory&_include=Observation:subject', clerk);
  assert.equal(res.status, 200);
  assert.deepEqual(ids(res.body), ['Observation/o1', 'Observation/o3']);
  assert.deepEqual(included(res.body), ['Patient/p1'], 'Patient/p2 (org2) is not included');
  const auditKeys = auditKeysOf(s.testDb.db, s.dataDir);
  const searches = (await auditKeys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before])).filter((e) => e.action === 'search');
  await auditKeys.close();
  assert.equal(searches.length, 1);
  assert.deepEqual(searches[0]!.resources.map((r) => `${r.type}/${r.id}`).sort(), ['Observation/o1', 'Observation/o3', 'Patient/p1'], 'Patient/p2 was read by the include round but not sent');
  const p1 = res.body.entry.find((e: any) => e.resource.id === 'p1');
  assert.equal(p1.resource.telecom, undefined);
});

test('includes inside a Bundle: the entry\'s search entry names only what the policy let through', async () => {
  const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
  const bundle = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Observation?category=laboratory&_include=Observation:subject' } }] };
  const res = await call(s, 'POST', '/fhir', clerk, bundle);
  assert.equal(res.status, 200);
  const searchset = res.body.entry[0].resource;
  assert.deepEqual(included(searchset), ['Patient/p1'], 'Patient/p2 (org2) is not included');
  const auditKeys = auditKeysOf(s.testDb.db, s.dataDir);
  const searches = (await auditKeys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before])).filter((e) => e.action === 'search');
  await auditKeys.close();
  assert.equal(searches.length, 1);
  assert.equal(searches[0]!.context, 'bundle');
  assert.deepEqual(searches[0]!.resources.map((r) => `${r.type}/${r.id}`).sort(), ['Observation/o1', 'Observation/o3', 'Patient/p1'], 'Patient/p2 was read by the include round but not sent');
});

test('interactions not granted, chains over a restricted type and history are refused', async () => {
  assert.equal((await call(s, 'POST', '/fhir/Patient', clerk, { resourceType: 'Patient' })).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Encounter', clerk)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p1/_history', clerk)).status, 403);
  const chain = await call(s, 'GET', '/fhir/Observation?subject:Patient.family=Famp2', clerk);
  assert.equal(chain.status, 403);
  assert.equal(chain.body.issue[0].details.coding[0].code, 'AUTH_POLICY_DENIED');
  assert.equal((await call(s, 'GET', '/fhir?_type=Patient', clerk)).status, 403);
});

test('writes: the new content must match the criteria inside the transaction; nothing is left behind', async () => {
  const bad = await call(s, 'POST', '/fhir/Patient', writer, { resourceType: 'Patient', managingOrganization: { reference: 'Organization/org2' }, name: [{ family: 'Sneaky' }] });
  assert.equal(bad.status, 403);
  const left = await s.fhir('/Patient?family=Sneaky');
  assert.equal(left.body.entry?.length ?? 0, 0, 'the refused create was rolled back');
  const good = await call(s, 'POST', '/fhir/Patient', writer, { resourceType: 'Patient', managingOrganization: { reference: 'Organization/org1' } });
  assert.equal(good.status, 201);
  // moving a patient out of the allowed organisation is refused; updating p2 (org2) too
  const move = await call(s, 'PUT', `/fhir/Patient/${good.body.id}`, writer, { resourceType: 'Patient', id: good.body.id, managingOrganization: { reference: 'Organization/org2' } });
  assert.equal(move.status, 403);
  assert.equal((await call(s, 'PUT', '/fhir/Patient/p2', writer, { resourceType: 'Patient', id: 'p2', managingOrganization: { reference: 'Organization/org1' } })).status, 403);
  assert.equal((await call(s, 'DELETE', '/fhir/Patient/p2', writer)).status, 403);
  assert.equal((await s.fhir('/Patient/p2')).status, 200);
});

test('token scopes still apply: a policy never widens a narrow token', async () => {
  const id = await createUser(s, ['org1-clerk']);
  const narrow = await userToken(s, id, ['user/Observation.rs']);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p1', narrow)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Observation/o1', narrow)).status, 200);
});

test('role admin API: validation with the search parser, admin token required, changes apply at once', async () => {
  const bad = await putRole(s, 'broken', { policies: [{ resourceType: 'Patient', interactions: ['read'], criteria: 'nosuchparam=1' }] });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.issue[0].details.coding[0].code, 'AUTH_ROLE_INVALID');
  assert.equal((await putRole(s, 'broken', { policies: [{ resourceType: 'Patient', interactions: ['update'], hide: ['telecom'] }] })).status, 400);
  assert.equal((await call(s, 'PUT', '/auth/admin/roles/x', clerk, { policies: [] })).status, 403);
  const list = await call(s, 'GET', '/auth/admin/roles', await s.token());
  assert.deepEqual(list.body.roles.map((r: any) => r.name), ['org1-clerk', 'org1-writer']);
  // widen the clerk role: p2 becomes visible on the next request (cache invalidated)
  await putRole(s, 'org1-clerk', { policies: [{ resourceType: 'Patient', interactions: ['read', 'search'] }] });
  assert.equal((await call(s, 'GET', '/fhir/Patient/p2', clerk)).status, 200);
  assert.equal((await call(s, 'GET', '/fhir/Observation', clerk)).status, 403);
});

test('criteria on a blind-indexed parameter (family) work for search and read alike', async () => {
  await putRole(s, 'by-family', { policies: [{ resourceType: 'Patient', interactions: ['read', 'search'], criteria: 'family=Famp2' }] });
  const token = await userToken(s, await createUser(s, ['by-family']));
  assert.deepEqual(ids((await call(s, 'GET', '/fhir/Patient', token)).body), ['Patient/p2']);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p2', token)).status, 200);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p1', token)).status, 403);
});

test('a user from whom elements of a type are hidden (through any role) cannot write that type', async () => {
  await putRole(s, 'hider', { policies: [{ resourceType: 'Patient', interactions: ['read'], hide: ['telecom'] }] });
  const token = await userToken(s, await createUser(s, ['hider', 'org1-writer']));
  const res = await call(s, 'POST', '/fhir/Patient', token, { resourceType: 'Patient', managingOrganization: { reference: 'Organization/org1' } });
  assert.equal(res.status, 403);
  assert.match(res.body.issue[0].diagnostics, /hidden/);
});

test('history: allowed with the history interaction, checked against the criteria, elements hidden', async () => {
  await putRole(s, 'historian', { policies: [{ resourceType: 'Patient', interactions: ['read', 'history'], criteria: 'organization=Organization/org1', hide: ['telecom'] }] });
  const token = await userToken(s, await createUser(s, ['historian']));
  const h = await call(s, 'GET', '/fhir/Patient/p1/_history', token);
  assert.equal(h.status, 200);
  assert.ok(h.body.entry.length >= 1);
  for (const e of h.body.entry) assert.equal(e.resource.telecom, undefined);
  assert.equal((await call(s, 'GET', '/fhir/Patient/p2/_history', token)).status, 403);
  assert.equal((await call(s, 'GET', '/fhir/Patient/_history', token)).status, 403, 'type history cannot be narrowed by criteria');
});

test('operations need the operations interaction on their type', async () => {
  const body = { resourceType: 'Patient', managingOrganization: { reference: 'Organization/org1' } };
  assert.equal((await call(s, 'POST', '/fhir/Patient/$validate', clerk, body)).status, 403);
  await putRole(s, 'validator', { policies: [{ resourceType: 'Patient', interactions: ['read', 'operations'] }] });
  const token = await userToken(s, await createUser(s, ['validator']));
  assert.equal((await call(s, 'POST', '/fhir/Patient/$validate', token, body)).status, 200);
});
