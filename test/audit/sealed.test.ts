import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DETAILS_UNAVAILABLE_EXTENSION, toAuditEvent } from '../../src/audit/index.js';
import { buildEntry, type AuditedContext } from '../../src/audit/entry.js';
import { insertEntries } from '../../src/audit/insert.js';
import { createAuditRecorder } from '../../src/audit/recorder.js';
import { compileAuditSearch, runAuditSearch } from '../../src/audit/query.js';
import { createSequencer } from '../../src/audit/sequencer.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { destroyRetired, startDekRotation } from '../../src/cli/keys-dek.js';
import { shredTenant } from '../../src/cli/tenant.js';
import { parseEnvelopeHeader } from '../../src/crypto/index.js';
import { asTenantId, silentLogger, systemClock } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf, type AuditKeys } from '../support/audit-keys.js';
import { asAttacker } from './support.js';
import { tempDir } from '../support/temp-dir.js';

/** Every byte Haven stored for the tenant's audit batches after `batchId`: signed entries and the searchable column. */
async function storedBytes(db: TestDb['db'], tenant: string, afterBatch: number): Promise<string> {
  const res = await db.query<{ entries: Buffer[]; patients: string }>(
    `SELECT entries, array_to_string(patient_ids, ' ') AS patients FROM audit_batch WHERE tenant_id = $1 AND batch_id > $2`,
    [tenant, afterBatch],
  );
  assert.ok(res.rows.length > 0, 'batches were written');
  return res.rows.map((r) => Buffer.concat(r.entries).toString('latin1') + r.patients).join('\n');
}

async function lastBatch(db: TestDb['db']): Promise<number> {
  return Number((await db.query<{ n: string }>('SELECT coalesce(max(batch_id), 0) AS n FROM audit_batch')).rows[0]!.n);
}

const v1Ctx = (tenant: string, requestId: string): AuditedContext => ({
  tenant: asTenantId(tenant),
  requestId,
  sourceIp: '192.0.2.7',
  principal: { subject: 'legacy-client', clientId: 'legacy-client', kind: 'client', scopes: [] },
});

// ---------------------------------------------------------------------------
// Through the HTTP API, on a server with encryption on (the default).

let s: TestServer;
let keys: AuditKeys;
before(async () => {
  s = await startTestServer();
  keys = auditKeysOf(s.testDb.db, s.dataDir);
});
after(async () => {
  await keys.close();
  await s.close();
});

test('v2 entries: no plaintext id, patient or address in the stored bytes; search, render and verify work over a mixed v1/v2 log', async () => {
  const db = s.testDb.db;
  const start = await lastBatch(db);
  const pat = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Sealed' }] } });
  const pid = pat.headers.get('location')!.split('/')[5]!;
  const obs = await s.fhir('/Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${pid}` } } });
  const oid = obs.headers.get('location')!.split('/')[5]!;
  assert.equal((await s.fhir(`/Observation/${oid}`, { headers: { 'x-request-id': 'sealed-read' } })).status, 200);
  assert.equal((await s.fhir(`/Observation?subject=Patient/${pid}`)).status, 200);

  const bytes = await storedBytes(db, 'default', start);
  for (const plain of [pid, oid, '127.0.0.1']) assert.equal(bytes.includes(plain), false, `${plain} is not stored in clear`);
  assert.match(bytes, /"v":2/);
  assert.match(bytes, /"sealed":"/);

  // An entry written before the upgrade (format v1) names the same patient in clear.
  await insertEntries(db, [buildEntry(v1Ctx('default', 'legacy-v1'), 'old-node', new Date(), { action: 'read', outcome: 'success', resources: [{ type: 'Observation', id: oid, version: 1, patient: `Patient/${pid}` }] })]);

  const byPatient = await s.fhir(`/AuditEvent?patient=Patient/${pid}&_count=100`);
  assert.equal(byPatient.status, 200);
  const events = (byPatient.body.entry as { resource: Record<string, any> }[]).map((e) => e.resource);
  const requestOf = (ev: Record<string, any>) => (ev['extension'] as { url: string; valueString?: string }[]).find((x) => x.url === 'urn:haven:audit:request-id')!.valueString;
  const ids = events.map(requestOf);
  assert.ok(ids.includes('legacy-v1'), 'the v1 entry is found by the plain reference');
  assert.ok(ids.includes('sealed-read'), 'the v2 entry is found by the tag');
  const read = events.find((ev) => requestOf(ev) === 'sealed-read')!;
  assert.deepEqual(read['entity'][0].what, { reference: `Observation/${oid}/_history/1` });
  assert.deepEqual(read['entity'][1].what, { reference: `Patient/${pid}` });
  assert.equal(read['agent'][0].network.address, '127.0.0.1');
  assert.equal(JSON.stringify(read).includes('bi:'), false, 'rendering shows the details, not the tags');

  const byEntity = await s.fhir(`/AuditEvent?entity=Observation/${oid}&_count=100`);
  const entityIds = (byEntity.body.entry as { resource: Record<string, any> }[]).map((e) => requestOf(e.resource));
  assert.ok(entityIds.includes('legacy-v1') && entityIds.includes('sealed-read'));
  const byType = await s.fhir(`/AuditEvent?entity-type=Observation&patient=${pid}&_count=100`);
  assert.ok((byType.body.entry as unknown[]).length >= 3);

  const report = await s.fhir(`/Patient/${pid}/$disclosures`);
  assert.equal(report.status, 200);
  const accesses = report.body.accesses as { requestId: string; resources: string[]; sourceIp?: string }[];
  const sealedAccess = accesses.find((a) => a.requestId === 'sealed-read')!;
  assert.deepEqual(sealedAccess.resources, [`Observation/${oid}`]);
  assert.equal(sealedAccess.sourceIp, '127.0.0.1');
  assert.ok(accesses.some((a) => a.requestId === 'legacy-v1'));

  // Offline verification needs no key: leaves and the batch columns (tags in patient_ids) check out.
  const seq = createSequencer({ db, clock: systemClock, logger: silentLogger, witnessPath: join(s.dataDir, 'audit', 'witness.jsonl'), intervalMs: 1000 });
  try {
    await seq.drain();
    const verified = await verifyAuditLog(db, { witnessPath: join(s.dataDir, 'audit', 'witness.jsonl') });
    assert.deepEqual(verified.problems, []);
    assert.ok(verified.ok);
  } finally {
    await seq.stop();
  }
});

// ---------------------------------------------------------------------------
// The recorder and the log directly: crypto-shredding, tampering, patient tokens, encryption off.

let t: TestDb;
let k: AuditKeys;
let witnessPath: string;
before(async () => {
  t = await createTestDb();
  const dir = tempDir('haven-audit-sealed-');
  k = auditKeysOf(t.db, dir);
  witnessPath = join(dir, 'audit', 'witness.jsonl');
});
after(async () => {
  await k.close();
  await t.drop();
});

const ctxOf = (tenant: string, requestId: string, principal: Partial<AuditedContext['principal']> & Record<string, unknown> = {}): AuditedContext => ({
  tenant: asTenantId(tenant),
  requestId,
  sourceIp: '198.51.100.23',
  principal: { subject: 'clinician-1', clientId: 'app-1', kind: 'user', scopes: [], ...principal },
});

const read = (id: string) => [{ action: 'read' as const, outcome: 'success' as const, resources: [{ type: 'Observation', id, version: 2, patient: `Patient/pt-${id}` }] }];

async function drainAndVerify(): Promise<Awaited<ReturnType<typeof verifyAuditLog>>> {
  const seq = createSequencer({ db: t.db, clock: systemClock, logger: silentLogger, witnessPath, intervalMs: 1000 });
  try {
    await seq.drain();
  } finally {
    await seq.stop();
  }
  return verifyAuditLog(t.db, { witnessPath });
}

async function search(tenant: string, query: [string, string][]) {
  const compiled = await k.crypto.withTagger(tenant, (tag) => compileAuditSearch(tenant, query, tag));
  return k.crypto.open((await runAuditSearch(t.db, compiled, query)).entries);
}

test('a patient token: its subject is sealed and tagged, found by agent search, shown opened', async () => {
  const recorder = createAuditRecorder({ db: t.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000, crypto: k.crypto });
  await recorder.record(ctxOf('default', 'patient-token', { subject: 'user-77', fhirUser: 'https://h.example/fhir/Patient/pt-self' }), read('self'));
  const raw = await t.db.query<{ c: string }>(`SELECT convert_from(canonical, 'UTF8') AS c FROM audit_entry WHERE request_id = 'patient-token'`);
  assert.equal(raw.rows[0]!.c.includes('user-77'), false, "a patient's user id is not in clear");
  assert.equal(raw.rows[0]!.c.includes('198.51.100.23'), false);
  const [found] = await search('default', [['agent', 'user-77']]);
  assert.equal(found?.entry.who.subject, 'user-77');
  assert.equal(found?.entry.where.sourceIp, '198.51.100.23');
  // A workforce user's id stays public (the auditors' main filter).
  await recorder.record(ctxOf('default', 'workforce'), read('w'));
  const wf = await t.db.query<{ subject: string }>(`SELECT subject FROM audit_entry WHERE request_id = 'workforce'`);
  assert.equal(wf.rows[0]!.subject, 'clinician-1');
});

test('tampering with a sealed part is detected by verification, and the details read as damaged', async () => {
  const recorder = createAuditRecorder({ db: t.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000, crypto: k.crypto });
  await recorder.record(ctxOf('default', 'to-tamper'), read('tamper'));
  assert.deepEqual((await drainAndVerify()).problems, []);
  const row = (await t.db.query<{ batch_id: string; ordinal: number; canonical: Buffer }>(`SELECT batch_id, ordinal, canonical FROM audit_entry WHERE request_id = 'to-tamper'`)).rows[0]!;
  const json = JSON.parse(row.canonical.toString('utf8')) as { sealed: string };
  const box = Buffer.from(json.sealed, 'base64');
  box[box.length - 20]! ^= 0x01; // one ciphertext bit
  const altered = row.canonical.toString('utf8').replace(json.sealed, box.toString('base64'));
  await asAttacker(t, [`UPDATE audit_batch SET entries[${row.ordinal}] = '\\x${Buffer.from(altered).toString('hex')}'::bytea WHERE batch_id = ${row.batch_id}`]);
  const report = await verifyAuditLog(t.db, { witnessPath });
  assert.equal(report.ok, false);
  assert.match(report.problems.join('\n'), /differ/);
  const [opened] = await search('default', [['_id', String(Number(row.batch_id) + row.ordinal - 1)]]);
  assert.equal(opened?.unavailable, 'damaged');
  assert.equal(opened?.entry.resources[0]?.id, undefined);
  // Put it back for the next test.
  await asAttacker(t, [`UPDATE audit_batch SET entries[${row.ordinal}] = '\\x${row.canonical.toString('hex')}'::bytea WHERE batch_id = ${row.batch_id}`]);
  assert.deepEqual((await verifyAuditLog(t.db, { witnessPath })).problems, []);
  // The column check covers v2 entries: a batch whose patient_ids lost an entry's tag hides it from patient searches.
  const tags = (await t.db.query<{ p: string[] }>(`SELECT patient_ids AS p FROM audit_batch WHERE batch_id = ${row.batch_id}`)).rows[0]!.p;
  assert.ok(tags.length > 0 && tags.every((x) => x.startsWith('bi:')));
  await asAttacker(t, [`UPDATE audit_batch SET patient_ids = '{}' WHERE batch_id = ${row.batch_id}`]);
  assert.match((await verifyAuditLog(t.db, { witnessPath })).problems.join('\n'), /patient_ids/);
  await asAttacker(t, [`UPDATE audit_batch SET patient_ids = ARRAY['${tags.join("','")}'] WHERE batch_id = ${row.batch_id}`]);
  assert.deepEqual((await verifyAuditLog(t.db, { witnessPath })).problems, []);
});

test('rotating the audit key: new entries use the new version, old entries still open, old versions are never destroyed', async () => {
  const recorder = createAuditRecorder({ db: t.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000, crypto: k.crypto });
  await recorder.record(ctxOf('default', 'before-rotation'), read('r1'));
  const [rot] = await startDekRotation({ db: t.db, kms: k.kms, logger: silentLogger }, 'default', 'audit');
  assert.equal(rot?.jobId, undefined, 'no re-encryption job: signed entries are never rewritten');
  k.keyring.clear(); // as every node does within its refresh interval
  await recorder.record(ctxOf('default', 'after-rotation'), read('r2'));
  const versionOf = async (requestId: string) => {
    const row = await t.db.query<{ c: string }>(`SELECT convert_from(canonical, 'UTF8') AS c FROM audit_entry WHERE request_id = $1`, [requestId]);
    return parseEnvelopeHeader(Buffer.from((JSON.parse(row.rows[0]!.c) as { sealed: string }).sealed, 'base64'), requestId).keyVersion;
  };
  assert.equal(await versionOf('after-rotation'), rot!.to);
  assert.equal(await versionOf('before-rotation'), rot!.from);
  const old = await search('default', [['patient', 'Patient/pt-r1']]);
  assert.equal(old[0]?.entry.resources[0]?.id, 'r1');
  const kept = await destroyRetired({ db: t.db, kms: k.kms, logger: silentLogger }, 'default');
  assert.deepEqual(kept.destroyed, []);
  assert.match(kept.kept.find((x) => x.key === `default/audit/v${rot!.from}`)?.reason ?? '', /never re-encrypted/);
});

test('after tenant shred the log still verifies, rendering marks the details unavailable, and new entries carry no PHI', async () => {
  const recorder = createAuditRecorder({ db: t.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000, crypto: k.crypto });
  await recorder.record(ctxOf('acme', 'acme-read'), read('acme1'));
  await recorder.record(ctxOf('default', 'default-after'), read('d1'));
  const before = await search('acme', [['patient', 'Patient/pt-acme1']]);
  assert.equal(before[0]?.entry.resources[0]?.id, 'acme1');

  await shredTenant(t.db, 'acme', 'test');
  k.keyring.clear(); // as every node does within its refresh interval
  const report = await drainAndVerify();
  assert.deepEqual(report.problems, [], 'a shredded tenant’s log verifies without any key');

  const page = await search('acme', [['action', 'R']]);
  const acme = page.find((e) => e.entry.requestId === 'acme-read')!;
  assert.equal(acme.unavailable, 'key-destroyed');
  assert.deepEqual(acme.entry.resources, [{ type: 'Observation' }]);
  assert.equal(acme.entry.where.sourceIp, undefined);
  const event = toAuditEvent(acme);
  assert.deepEqual((event['extension'] as { url: string; valueCode?: string }[]).find((x) => x.url === DETAILS_UNAVAILABLE_EXTENSION)?.valueCode, 'key-destroyed');
  assert.deepEqual((event['entity'] as { what: unknown }[])[0]!.what, { display: 'Observation' });
  // The other tenant is untouched.
  const other = await search('default', [['patient', 'Patient/pt-d1']]);
  assert.equal(other[0]?.entry.resources[0]?.id, 'd1');

  // A request to the shredded tenant is still recorded, without its PHI (there is no key to seal it).
  await recorder.record(ctxOf('acme', 'acme-after-shred'), read('acme2'));
  const after = await t.db.query<{ c: string }>(`SELECT convert_from(canonical, 'UTF8') AS c FROM audit_entry WHERE request_id = 'acme-after-shred'`);
  assert.equal(after.rows[0]!.c.includes('acme2'), false);
  assert.match(after.rows[0]!.c, /"redacted":"tenant-shredded"/);
  assert.deepEqual((await drainAndVerify()).problems, []);
});

test('encryption off: the recorder writes format v1', async () => {
  const recorder = createAuditRecorder({ db: t.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000 });
  await recorder.record(ctxOf('default', 'plain'), read('plain'));
  const row = await t.db.query<{ c: string; patient_ids: string[] }>(`SELECT convert_from(canonical, 'UTF8') AS c, patient_ids FROM audit_entry WHERE request_id = 'plain'`);
  assert.match(row.rows[0]!.c, /"v":1/);
  assert.deepEqual(row.rows[0]!.patient_ids, ['Patient/pt-plain']);
});
