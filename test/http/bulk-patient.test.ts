import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { exportAll, key } from '../bulk/support.js';

/** Patient- and Group-level export: the Patient compartment, the Group's current members. */
let s: TestServer;
let token: string;
const patients: string[] = [];
const owned = new Map<string, string[]>(); // patient id → keys of its compartment (itself included)
let groupId: string;

async function create(resource: Record<string, unknown>): Promise<string> {
  const res = await s.fhir(`/${String(resource.resourceType)}`, { method: 'POST', json: resource });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id as string;
}

before(async () => {
  s = await startTestServer();
  token = await s.token('system/*.cruds');
  await create({ resourceType: 'Organization', name: 'Not in any compartment' });
  for (let i = 0; i < 3; i++) {
    const id = await create({ resourceType: 'Patient', name: [{ family: `Bulk${i}` }], birthDate: '1980-01-0' + (i + 1) });
    patients.push(id);
    const keys = [`Patient/${id}`];
    for (let j = 0; j < 2; j++) {
      const obs = await create({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${id}` } });
      keys.push(`Observation/${obs}`);
    }
    const cond = await create({ resourceType: 'Condition', subject: { reference: `Patient/${id}` }, code: { text: 'c' } });
    keys.push(`Condition/${cond}`);
    owned.set(id, keys);
  }
  groupId = await create({ resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${patients[0]}` } }, { entity: { reference: `Patient/${patients[1]}` } }] });
});
after(async () => s.close());

const expected = (ids: string[]) => ids.flatMap((id) => owned.get(id)!).sort();

test('Patient/$export holds the Patient compartments and nothing else', async () => {
  const { resources } = await exportAll(s.fhirUrl, token, 'Patient/$export');
  // Group is in the Patient compartment too (Group.member); the Organization is in none.
  assert.deepEqual(resources.map(key).sort(), [...expected(patients), `Group/${groupId}`].sort());
});

test('POST Patient/$export with patient parameters limits the export to those patients', async () => {
  const body = { resourceType: 'Parameters', parameter: [{ name: 'patient', valueReference: { reference: `Patient/${patients[2]}` } }] };
  const { resources } = await exportAll(s.fhirUrl, token, 'Patient/$export', { method: 'POST', body });
  assert.deepEqual(resources.map(key).sort(), expected([patients[2]!]));
});

test('Group/ID/$export uses the current members', async () => {
  const first = await exportAll(s.fhirUrl, token, `Group/${groupId}/$export?_type=Patient,Observation,Condition`);
  assert.deepEqual(first.resources.map(key).sort(), expected([patients[0]!, patients[1]!]));
  const group = (await s.fhir(`/Group/${groupId}`)).body;
  group.member = [{ entity: { reference: `Patient/${patients[2]}` } }, { entity: { reference: `Patient/${patients[0]}` }, inactive: true }];
  assert.equal((await s.fhir(`/Group/${groupId}`, { method: 'PUT', json: group })).status, 200);
  const second = await exportAll(s.fhirUrl, token, `Group/${groupId}/$export?_type=Patient,Observation`);
  assert.deepEqual(second.resources.map(key).sort(), expected([patients[2]!]).filter((k) => !k.startsWith('Condition/')));
});

test('Group/ID/$export of an unknown group is 404', async () => {
  const res = await fetch(`${s.fhirUrl}/Group/nope/$export`, { headers: { authorization: `Bearer ${token}`, prefer: 'respond-async' } });
  assert.equal(res.status, 404);
  await res.text();
});

test('an export with nothing to export completes at once with no output', async () => {
  const { manifest } = await exportAll(s.fhirUrl, token, '$export?_type=Basic');
  assert.deepEqual(manifest.output, []);
});

test('a task that fails on every attempt fails the export: status 500 with an OperationOutcome', async () => {
  const id = await create({ resourceType: 'Basic', code: { text: 'to be damaged' } });
  await s.testDb.db.query(`UPDATE resource SET content = '\\x0102'::bytea WHERE resource_type = 'Basic' AND id = $1`, [id]);
  const k = await fetch(`${s.fhirUrl}/$export?_type=Basic`, { headers: { authorization: `Bearer ${token}`, prefer: 'respond-async' } });
  assert.equal(k.status, 202);
  await k.text();
  const statusUrl = k.headers.get('content-location')!;
  for (let i = 0; ; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json().catch(() => undefined)) as { resourceType?: string } | undefined;
    if (res.status === 202 && i < 30) continue;
    assert.equal(res.status, 500);
    assert.equal(body?.resourceType, 'OperationOutcome');
    break;
  }
});
