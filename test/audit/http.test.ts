import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createSequencer } from '../../src/audit/sequencer.js';
import { requireAuditReader } from '../../src/audit/proof-service.js';
import { publicKeyFromRaw, verifyTreeHead } from '../../src/audit/tree-head.js';
import { verifyConsistency, verifyEntryInclusion } from '../../src/audit/proof-verify.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf, type AuditKeys } from '../support/audit-keys.js';

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

interface Seen {
  action: string;
  outcome: string;
  requestId: string;
  outcomeCode?: string;
  status?: number;
  context?: string;
  why?: string;
  resources: { type: string; id?: string; version?: number; patient?: string }[];
}

async function entriesAfter(entryId: number): Promise<(Seen & Record<string, unknown>)[]> {
  // Entries are stored as format v2 (details sealed): read them opened, as an auditor does.
  return (await keys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [entryId])) as unknown as (Seen & Record<string, unknown>)[];
}

async function lastEntryId(): Promise<number> {
  const res = await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry');
  return Number(res.rows[0]!.n);
}

const project = (e: Seen): Seen => ({
  action: e.action,
  outcome: e.outcome,
  requestId: e.requestId,
  ...(e.outcomeCode ? { outcomeCode: e.outcomeCode } : {}),
  ...(e.status !== undefined ? { status: e.status } : {}),
  ...(e.context ? { context: e.context } : {}),
  ...(e.why ? { why: e.why } : {}),
  resources: e.resources,
});

test('a scripted session yields exactly the expected audit entries, field by field', async () => {
  const start = await lastEntryId();
  await s.token(); // authentication event
  const call = (rid: string, path: string, init: Parameters<TestServer['fhir']>[1] = {}) =>
    s.fhir(path, { ...init, headers: { 'x-request-id': rid, 'x-purpose-of-use': 'TREAT', ...(init.headers as Record<string, string> | undefined) } });
  const created = await call('r-create', '/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Secret' }] } });
  assert.equal(created.status, 201);
  const pid = created.headers.get('location')!.split('/')[5]!;
  const P = `Patient/${pid}`;
  assert.equal((await call('r-read', `/Patient/${pid}`)).status, 200);
  assert.equal((await call('r-vread', `/Patient/${pid}/_history/1`)).status, 200);
  assert.equal((await call('r-update', `/Patient/${pid}`, { method: 'PUT', json: { resourceType: 'Patient', id: pid, gender: 'female' } })).status, 200);
  const patched = await call('r-patch', `/Patient/${pid}`, { method: 'PATCH', headers: { 'content-type': 'application/json-patch+json' }, body: JSON.stringify([{ op: 'add', path: '/active', value: true }]) });
  assert.equal(patched.status, 200);
  const obs = await call('r-obs', '/Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: P } } });
  const oid = obs.headers.get('location')!.split('/')[5]!;
  assert.equal((await call('r-search', `/Observation?subject=${P}`)).status, 200);
  assert.equal((await call('r-history', `/Patient/${pid}/_history`)).status, 200);
  assert.equal((await call('r-delete', `/Observation/${oid}`, { method: 'DELETE' })).status, 200);
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:11111111-1111-1111-1111-111111111111', resource: { resourceType: 'Patient', active: true }, request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'y' }, subject: { reference: 'urn:uuid:11111111-1111-1111-1111-111111111111' } }, request: { method: 'POST', url: 'Observation' } },
    ],
  };
  const tx = await call('r-tx', '', { method: 'POST', json: bundle });
  assert.equal(tx.status, 200);
  const [p2, o2] = (tx.body.entry as { response: { location: string } }[]).map((e) => /(Patient|Observation)\/([^/]+)\/_history/.exec(e.response.location)!.slice(1));
  // A batch Bundle: its search entry is ONE search entry (matches, then the included resource), its read one read.
  const batch = {
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      { request: { method: 'GET', url: `Observation?subject=Patient/${p2![1]}&_include=Observation:subject` } },
      { request: { method: 'GET', url: `Patient/${pid}` } },
    ],
  };
  const batched = await call('r-batch', '', { method: 'POST', json: batch });
  assert.equal(batched.status, 200);
  assert.deepEqual((batched.body.entry as { response: { status: string } }[]).map((e) => e.response.status), ['200 OK', '200 OK']);
  assert.equal((await call('r-missing', '/Patient/does-not-exist')).status, 404);

  const seen = await entriesAfter(start);
  const login = seen[0]!;
  assert.equal(login.action, 'login');
  assert.equal(login.outcome, 'success');
  assert.equal((login.who as { clientId: string }).clientId.length > 0, true);
  const v = (n: number) => ({ type: 'Patient', id: pid, version: n, patient: P });
  const expected: Seen[] = [
    { action: 'create', outcome: 'success', requestId: 'r-create', why: 'TREAT', resources: [v(1)] },
    { action: 'read', outcome: 'success', requestId: 'r-read', why: 'TREAT', resources: [v(1)] },
    { action: 'vread', outcome: 'success', requestId: 'r-vread', why: 'TREAT', resources: [v(1)] },
    { action: 'update', outcome: 'success', requestId: 'r-update', why: 'TREAT', resources: [v(2)] },
    { action: 'patch', outcome: 'success', requestId: 'r-patch', why: 'TREAT', resources: [v(3)] },
    { action: 'create', outcome: 'success', requestId: 'r-obs', why: 'TREAT', resources: [{ type: 'Observation', id: oid, version: 1, patient: P }] },
    { action: 'search', outcome: 'success', requestId: 'r-search', why: 'TREAT', resources: [{ type: 'Observation', id: oid, version: 1, patient: P }] },
    { action: 'history', outcome: 'success', requestId: 'r-history', why: 'TREAT', resources: [v(3), v(2), v(1)] },
    { action: 'delete', outcome: 'success', requestId: 'r-delete', why: 'TREAT', resources: [{ type: 'Observation', id: oid, version: 2 }] },
    { action: 'create', outcome: 'success', requestId: 'r-tx', why: 'TREAT', context: 'bundle', resources: [{ type: 'Patient', id: p2![1]!, version: 1, patient: `Patient/${p2![1]}` }] },
    { action: 'create', outcome: 'success', requestId: 'r-tx', why: 'TREAT', context: 'bundle', resources: [{ type: 'Observation', id: o2![1]!, version: 1, patient: `Patient/${p2![1]}` }] },
    {
      action: 'search',
      outcome: 'success',
      requestId: 'r-batch',
      why: 'TREAT',
      context: 'bundle',
      resources: [
        { type: 'Observation', id: o2![1]!, version: 1, patient: `Patient/${p2![1]}` },
        { type: 'Patient', id: p2![1]!, version: 1, patient: `Patient/${p2![1]}` },
      ],
    },
    { action: 'read', outcome: 'success', requestId: 'r-batch', why: 'TREAT', context: 'bundle', resources: [v(3)] },
    { action: 'read', outcome: 'failure', requestId: 'r-missing', why: 'TREAT', outcomeCode: 'RESOURCE_NOT_FOUND', status: 404, resources: [{ type: 'Patient', id: 'does-not-exist', patient: 'Patient/does-not-exist' }] },
  ];
  assert.deepEqual(seen.slice(1).map(project), expected);
  for (const e of seen) {
    assert.match(e['recordedAt'] as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(e['where'], { node: hostname(), sourceIp: '127.0.0.1' });
    assert.equal(JSON.stringify(e).includes('Secret'), false, 'no resource content in audit entries');
  }
  assert.equal(seen.filter((e) => e.action !== 'login').every((e) => (e['who'] as { tokenId?: string }).tokenId), true);
});

test('a failed token request is recorded as a failed authentication', async () => {
  const start = await lastEntryId();
  const res = await fetch(`${s.baseUrl}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs', client_id: 'intruder', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'x.y.z' }),
  });
  assert.equal(res.status, 401);
  const [entry] = await entriesAfter(start);
  assert.deepEqual(project(entry!), { action: 'login', outcome: 'failure', outcomeCode: 'OAUTH_INVALID_CLIENT', requestId: entry!.requestId, resources: [] });
  assert.equal((entry!['who'] as { clientId: string }).clientId, 'intruder');
});

test('fail-closed: with the audit table unwritable, a read and a write answer 503 and no PHI', async () => {
  const created = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Hidden' }] } });
  const pid = created.headers.get('location')!.split('/')[5]!;
  const db = s.testDb.db;
  await db.query('ALTER TABLE audit_batch RENAME TO audit_batch_away');
  try {
    const read = await s.fhir(`/Patient/${pid}`);
    assert.equal(read.status, 503);
    assert.equal(JSON.stringify(read.body).includes('Hidden'), false);
    assert.equal(read.body.issue[0].details.coding[0].code, 'AUDIT_UNAVAILABLE');
    const search = await s.fhir('/Patient?family=Hidden');
    assert.equal(search.status, 503);
    assert.equal(JSON.stringify(search.body).includes('Hidden'), false);
    // A search with includes is audited once, at the end: its held entry failing still withholds everything.
    const included = await s.fhir(`/Patient?_id=${pid}&_revinclude=Observation:subject&_include=Patient:general-practitioner`);
    assert.equal(included.status, 503);
    assert.equal(JSON.stringify(included.body).includes('Hidden'), false);
    assert.equal(included.body.issue[0].details.coding[0].code, 'AUDIT_UNAVAILABLE');
    const write = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'NeverStored' }] } });
    assert.equal(write.status, 503);
    assert.equal(write.body.issue[0].details.coding[0].code, 'AUDIT_UNAVAILABLE');
  } finally {
    await db.query('ALTER TABLE audit_batch_away RENAME TO audit_batch');
  }
  const all = await s.fhir('/Patient?family=NeverStored');
  assert.equal(all.status, 200, 'audit works again once the table is back');
  assert.equal(all.body.entry?.length ?? 0, 0, 'the refused write left nothing behind');
});

test('the audit API serves signed heads and RFC 9162 proofs a third party can check', async () => {
  const seq = createSequencer({ db: s.testDb.db, clock: systemClock, logger: silentLogger, witnessPath: join(s.dataDir, 'audit', 'witness.jsonl'), intervalMs: 1000 });
  try {
    await seq.drain();
    const get = async (path: string) => {
      const res = await fetch(`${s.baseUrl}${path}`, { headers: { authorization: `Bearer ${await s.token()}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> & { treeSize: number } };
    };
    const first = (await get('/audit/tree-head')).body as unknown as { treeSize: number; rootHash: string; publicKey: string; signature: string; timestampMs: number; keyId: string };
    assert.ok(verifyTreeHead(first, publicKeyFromRaw(Buffer.from(first.publicKey, 'base64'))));
    await s.fhir('/Patient?_count=1');
    await seq.drain();
    const second = (await get('/audit/tree-head')).body as unknown as typeof first;
    assert.ok(second.treeSize > first.treeSize);
    for (const leaf of [0, first.treeSize - 1, second.treeSize - 1]) {
      const proof = (await get(`/audit/proof/inclusion?seq=${leaf}&treeSize=${second.treeSize}`)).body as unknown as { entry: string; inclusionPath: string[] };
      const path = proof.inclusionPath.map((h) => Buffer.from(h, 'base64'));
      assert.ok(verifyEntryInclusion(Buffer.from(proof.entry, 'base64'), leaf, second.treeSize, path, Buffer.from(second.rootHash, 'base64')), `leaf ${leaf}`);
    }
    const cons = (await get(`/audit/proof/consistency?from=${first.treeSize}&to=${second.treeSize}`)).body as unknown as { consistencyPath: string[] };
    const path = cons.consistencyPath.map((h) => Buffer.from(h, 'base64'));
    assert.ok(verifyConsistency(first.treeSize, second.treeSize, path, Buffer.from(first.rootHash, 'base64'), Buffer.from(second.rootHash, 'base64')));
    assert.equal((await get('/audit/proof/inclusion?treeSize=1')).status, 400);
    // A size under another name is refused, not answered with a proof for the newest tree.
    assert.equal((await get(`/audit/proof/inclusion?seq=0&size=${first.treeSize}`)).status, 400);
    assert.equal((await get('/audit/proof/consistency?first=1&second=2')).status, 400);
    assert.equal((await get('/audit/proof/consistency?from=1&to=999999')).status, 404);
    const noToken = await fetch(`${s.baseUrl}/audit/tree-head`);
    assert.equal(noToken.status, 401);
    const report = await verifyAuditLog(s.testDb.db, { witnessPath: join(s.dataDir, 'audit', 'witness.jsonl') });
    assert.deepEqual(report.problems, []);
  } finally {
    await seq.stop();
  }
});

test('only admins or holders of system/AuditEvent.r may read audit proofs', () => {
  const p = (scopes: string[], isAdmin = false) => ({ subject: 'c', clientId: 'c', kind: 'client' as const, scopes, isAdmin });
  assert.doesNotThrow(() => requireAuditReader(p([], true)));
  assert.doesNotThrow(() => requireAuditReader(p(['system/AuditEvent.r'])));
  assert.doesNotThrow(() => requireAuditReader(p(['system/AuditEvent.rs'])));
  assert.throws(() => requireAuditReader(p(['system/Patient.rs', 'system/*.cruds'])), /AuditEvent/);
});
