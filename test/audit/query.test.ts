import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { limitedClientToken } from '../support/clients.js';
import { startTestServer, type TestServer } from '../support/server.js';

const run = promisify(execFile);
let s: TestServer;
let alice: string;
let bob: string;
let clinicianToken: string;

before(async () => {
  s = await startTestServer();
  // A non-admin clinical app: may read patients, not the audit log.
  clinicianToken = await limitedClientToken(s, 'ward-app', 'system/*.rs');
  alice = await createPatient('Alice');
  bob = await createPatient('Bob');
  const obs = await s.fhir('/Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'hr' }, subject: { reference: `Patient/${alice}` } } });
  assert.equal(obs.status, 201);
  assert.equal((await s.fhir(`/Patient/${alice}`, { token: clinicianToken, headers: { 'x-purpose-of-use': 'TREAT', 'x-request-id': 'ward-read-1' } })).status, 200);
  assert.equal((await s.fhir(`/Patient/${bob}`, { token: clinicianToken })).status, 200);
  assert.equal((await s.fhir(`/Patient/does-not-exist`, { token: clinicianToken })).status, 404);
});
after(async () => {
  await s.close();
});

async function createPatient(family: string): Promise<string> {
  const res = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family }] } });
  assert.equal(res.status, 201);
  return res.body.id as string;
}

/** Sets a column of some batches as an attacker with DBA rights could, past the append-only trigger. */
const alterBatches = (assignment: string, batchIds: string[]) =>
  s.testDb.db.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_batch DISABLE TRIGGER audit_batch_append_only');
    await tx.query(`UPDATE audit_batch SET ${assignment} WHERE batch_id = ANY($1::bigint[])`, [batchIds]);
    await tx.query('ALTER TABLE audit_batch ENABLE TRIGGER audit_batch_append_only');
  });

const events = (body: any): any[] => (body.entry ?? []).map((e: any) => e.resource);

test('AuditEvent search by patient returns that patient’s accesses as R4 AuditEvents', async () => {
  const res = await s.fhir(`/AuditEvent?patient=Patient/${alice}&_sort=date`);
  assert.equal(res.status, 200);
  const found = events(res.body);
  // create Patient, create Observation (subject Alice), ward-app read: in that order.
  assert.deepEqual(found.map((e) => [e.subtype[0].code, e.action]), [['create', 'C'], ['create', 'C'], ['read', 'R']]);
  const read = found[2];
  assert.equal(read.resourceType, 'AuditEvent');
  assert.equal(read.outcome, '0');
  assert.equal(read.agent[0].altId, 'ward-app');
  assert.equal(read.agent[0].requestor, true);
  assert.equal(read.purposeOfEvent[0].coding[0].code, 'TREAT');
  assert.deepEqual(read.entity.map((x: any) => [x.what.reference, x.type.code]), [[`Patient/${alice}/_history/1`, '2'], [`Patient/${alice}`, '1']]);
  assert.equal(read.extension.find((x: any) => x.url === 'urn:haven:audit:request-id').valueString, 'ward-read-1');
  // Every rendered event is a valid R4 AuditEvent.
  const validation = await s.fhir('/AuditEvent/$validate', { method: 'POST', json: { resourceType: 'Parameters', parameter: [{ name: 'resource', resource: read }] } });
  assert.equal(validation.status, 200);
  assert.deepEqual(validation.body.issue.filter((i: any) => i.severity === 'error'), []);
});

test('AuditEvent search filters by agent, outcome, action, entity, date and pages', async () => {
  const byAgent = events((await s.fhir('/AuditEvent?agent=ward-app&_sort=date')).body);
  assert.deepEqual(
    byAgent.map((e) => [e.subtype[0].code, e.entity?.[0]?.what?.reference]),
    [['110122', undefined], ['read', `Patient/${alice}/_history/1`], ['read', `Patient/${bob}/_history/1`], ['read', 'Patient/does-not-exist']],
  );
  const failures = events((await s.fhir('/AuditEvent?agent=ward-app&outcome=4')).body);
  assert.equal(failures.length, 1);
  assert.equal(failures[0].outcomeDesc, 'RESOURCE_NOT_FOUND');
  // Only the batches holding a failure are read for one (migration 045): cleared, the flag hides the
  // refused read (what `haven audit verify` reports as altered); NULL, as before the column, it is found.
  const flagged = await s.testDb.db.query<{ batch_id: string }>('SELECT batch_id FROM audit_batch WHERE failed');
  assert.ok(flagged.rows.length > 0, 'a batch says whether it holds a failure');
  const alterFailed = (value: string) => alterBatches(`failed = ${value}`, flagged.rows.map((r) => r.batch_id));
  await alterFailed('false');
  assert.deepEqual(events((await s.fhir('/AuditEvent?agent=ward-app&outcome=4')).body), []);
  await alterFailed('NULL');
  assert.deepEqual(events((await s.fhir('/AuditEvent?agent=ward-app&outcome=4')).body).map((e) => e.id), failures.map((e) => e.id));
  assert.equal(events((await s.fhir('/AuditEvent?agent=ward-app&outcome=0,4')).body).length, byAgent.length, 'success or failure: every batch');
  const creates = events((await s.fhir('/AuditEvent?action=C&entity-type=Observation')).body);
  assert.equal(creates.length, 1);
  const entity = events((await s.fhir(`/AuditEvent?entity=Patient/${bob}`)).body);
  assert.deepEqual(entity.map((e) => e.subtype[0].code).sort(), ['create', 'read']);
  // The batches' entity column (migration 041) narrows the search: emptied, it hides Bob's entries (what
  // `haven audit verify` reports as altered); NULL, as in batches written before it, they are read as before.
  const snapshot = await s.testDb.db.query<{ batch_id: string }>('SELECT batch_id FROM audit_batch WHERE cardinality(entity_ids) > 0');
  assert.ok(snapshot.rows.length > 0, 'new batches carry the resources their entries name');
  const alterEntities = (value: string) => alterBatches(`entity_ids = ${value}`, snapshot.rows.map((r) => r.batch_id));
  const entityIds = (q: string) => s.fhir(`/AuditEvent?${q}`).then((res) => events(res.body).map((e) => e.id).sort());
  const bobs = entity.map((e) => e.id).sort();
  assert.deepEqual(await entityIds(`entity=Patient/${bob},Patient/nobody`), bobs);
  assert.ok((await entityIds(`entity=Patient/${bob},Observation`)).length > bobs.length, 'a type alone in the list matches every entry of that type');
  await alterEntities(`'{}'`);
  assert.deepEqual(await entityIds(`entity=Patient/${bob}`), []);
  await alterEntities('NULL');
  assert.deepEqual(await entityIds(`entity=Patient/${bob}`), bobs);
  // Batches from before the agent column (migration 040) have none: they are still found.
  await s.testDb.db.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_batch DISABLE TRIGGER audit_batch_append_only');
    await tx.query(`UPDATE audit_batch SET agent_ids = NULL WHERE 'ward-app' = ANY(agent_ids)`);
    await tx.query('ALTER TABLE audit_batch ENABLE TRIGGER audit_batch_append_only');
  });
  assert.deepEqual(events((await s.fhir('/AuditEvent?agent=ward-app&_sort=date')).body).map((e) => e.id), byAgent.map((e) => e.id));
  // How many accesses match, without the entries.
  const counted = await s.fhir('/AuditEvent?agent=ward-app&_summary=count');
  assert.equal(counted.status, 200);
  assert.equal(counted.body.total, byAgent.length);
  assert.equal(counted.body.entry, undefined);
  assert.ok(!counted.body.link.some((l: any) => l.relation === 'next'));
  const future = events((await s.fhir('/AuditEvent?date=gt2999-01-01')).body);
  assert.equal(future.length, 0);
  // Every prefix, with the single-sided ones (which use one end of the date's range) in between.
  const count = async (q: string) => {
    const res = await s.fhir(`/AuditEvent?agent=ward-app&${q}`);
    assert.equal(res.status, 200, `${q}: ${JSON.stringify(res.body).slice(0, 300)}`);
    return events(res.body).length;
  };
  const day = new Date().toISOString().slice(0, 10);
  const all = byAgent.length;
  for (const [q, n] of [
    [`date=${day}`, all], [`date=eq${day}`, all], [`date=ne${day}`, 0], [`date=ge${day}`, all], [`date=le${day}`, all],
    [`date=gt${day}`, 0], [`date=lt${day}`, 0], [`date=sa${day}`, 0], [`date=eb${day}`, 0],
    ['date=ge2000-01-01&date=lt2999-01-01', all], ['date=le2000-01-01', 0],
  ] as const) {
    assert.equal(await count(q), n, q);
  }
  const today = new Date().toISOString().slice(0, 10);
  const page = await s.fhir(`/AuditEvent?date=${today}&_count=2&_total=accurate`);
  assert.equal(events(page.body).length, 2);
  assert.ok(page.body.total >= 6);
  const next = page.body.link.find((l: any) => l.relation === 'next');
  assert.ok(next, 'a next link');
  const second = await s.fhir(next.url.slice(s.fhirUrl.length));
  assert.equal(second.status, 200);
  assert.notEqual(events(second.body)[0].id, events(page.body)[0].id);
});

test('AuditEvent read by id, bad parameters and writes are refused clearly', async () => {
  const [first] = events((await s.fhir(`/AuditEvent?patient=${bob}&_count=1`)).body);
  const read = await s.fhir(`/AuditEvent/${first.id}`);
  assert.equal(read.status, 200);
  assert.equal(read.body.id, first.id);
  assert.equal((await s.fhir('/AuditEvent/999999999')).status, 404);
  const unknown = await s.fhir('/AuditEvent?name=x');
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.issue[0].details.coding[0].code, 'AUDIT_SEARCH_INVALID');
  assert.equal((await s.fhir('/AuditEvent?date=yesterday')).status, 400);
  assert.equal((await s.fhir('/AuditEvent?_summary=true')).status, 400);
  const write = await s.fhir('/AuditEvent', { method: 'POST', json: { resourceType: 'AuditEvent' } });
  assert.equal(write.status, 405);
});

test('the audit log needs its own scope, and reading it is itself audited', async () => {
  const denied = await s.fhir('/AuditEvent', { token: clinicianToken });
  assert.equal(denied.status, 403);
  assert.equal((await s.fhir(`/Patient/${alice}/$disclosures`, { token: clinicianToken })).status, 403);
  const reads = events((await s.fhir('/AuditEvent?entity-type=AuditEvent&_sort=date')).body);
  assert.ok(reads.length >= 5, `audit reads recorded: ${reads.length}`);
  const refused = reads.filter((e) => e.agent[0].altId === 'ward-app');
  assert.equal(refused.length, 1);
  assert.equal(refused[0].outcome, '4');
  assert.equal(refused[0].outcomeDesc, 'AUDIT_FORBIDDEN');
});

test('$disclosures answers JSON, CSV and HTML naming each recipient', async () => {
  const json = await s.fhir(`/Patient/${alice}/$disclosures`, { headers: { 'x-request-id': 'disclosure-1' } });
  assert.equal(json.status, 200);
  assert.match(json.headers.get('content-type')!, /application\/json/);
  const report = json.body;
  assert.equal(report.patient, `Patient/${alice}`);
  const ward = report.recipients.find((r: any) => r.clientId === 'ward-app');
  assert.deepEqual({ accesses: ward.accesses, purposes: ward.purposes }, { accesses: 1, purposes: ['TREAT'] });
  assert.ok(report.accesses.every((a: any) => !a.resources.includes(`Patient/${bob}`)));
  const csv = await s.fhir(`/Patient/${alice}/$disclosures?_format=csv`);
  assert.match(csv.headers.get('content-type')!, /text\/csv/);
  const lines = (csv.body as string).trim().split('\r\n');
  assert.equal(lines[0]!.split(',')[0], 'recorded_at');
  assert.equal(lines.length, 1 + report.accesses.length + 1, 'the first report is itself an access');
  const html = await s.fhir(`/Patient/${alice}/$disclosures`, { headers: { accept: 'text/html' } });
  assert.match(html.headers.get('content-type')!, /text\/html/);
  assert.match(html.body as string, /<table>[\s\S]*ward-app/);
  assert.equal((await s.fhir(`/Patient/${alice}/$disclosures?_format=xml`)).status, 406);
  // A misspelt, repeated, empty or backwards bound is refused, never read as "the last six years".
  for (const q of ['since=2026-01-01', '_since=2026&_since=2027', '_since=', '_since=2026-01-01&_until=2020-01-01']) {
    const refused = await s.fhir(`/Patient/${alice}/$disclosures?${q}`);
    assert.equal(refused.status, 400, q);
    assert.equal(refused.body.issue[0].details.coding[0].code, 'AUDIT_SEARCH_INVALID', q);
  }
  // The report request is recorded against the patient, so the next report lists it.
  const audited = events((await s.fhir(`/AuditEvent?patient=${alice}&subtype=operation`)).body);
  assert.ok(audited.some((e) => e.extension.some((x: any) => x.valueString === 'disclosure-1')));
});

test('haven audit report writes the same accounting offline', async () => {
  const env = { ...process.env, DATABASE_URL: s.testDb.url, HAVEN_DATA_DIR: s.dataDir };
  const { stdout } = await run(process.execPath, ['bin/haven.js', 'audit', 'report', '--patient', alice, '--format', 'csv'], { env });
  const rows = stdout.trim().split('\r\n');
  assert.ok(rows.length >= 4, stdout);
  assert.ok(rows.some((r) => r.includes('ward-app') && r.includes('TREAT')));
  assert.ok(!stdout.includes('Bob') && !stdout.includes('Alice'), 'names never appear: the report holds references only');
});
