import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf, type AuditKeys } from '../support/audit-keys.js';

// An update whose content equals the current version (meta.versionId and meta.lastUpdated aside)
// creates no version: 200 with the current version's ETag, Location and body; If-Match still enforced.

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

const body = (id: string, extra: Record<string, unknown> = {}) => ({ resourceType: 'Patient', id, name: [{ family: 'Noop', given: ['Nina'] }], gender: 'female', ...extra });
const put = (id: string, json: unknown, headers: Record<string, string> = {}) => s.fhir(`/Patient/${id}`, { method: 'PUT', json, headers });

async function historyTotal(id: string): Promise<number> {
  const h = await s.fhir(`/Patient/${id}/_history`);
  assert.equal(h.status, 200);
  return h.body.total as number;
}

test('PUT of the same body twice: one version, the same ETag, Location and body', async () => {
  const first = await put('n1', body('n1'));
  assert.equal(first.status, 201);
  const again = await put('n1', body('n1'));
  assert.equal(again.status, 200);
  assert.equal(again.headers.get('etag'), 'W/"1"');
  assert.match(again.headers.get('location') ?? '', /\/fhir\/Patient\/n1\/_history\/1$/);
  assert.equal(again.headers.get('last-modified'), first.headers.get('last-modified'));
  assert.deepEqual(again.body, first.body, 'the current version as stored, meta included');
  // The client's copy, read back with its meta, is the same content too.
  const read = await s.fhir('/Patient/n1');
  const echoed = await put('n1', read.body, { prefer: 'return=OperationOutcome', 'if-match': 'W/"1"' });
  assert.equal(echoed.status, 200);
  assert.equal(echoed.headers.get('etag'), 'W/"1"');
  assert.match(echoed.body.issue[0].diagnostics, /No change to Patient\/n1; version 1 kept/);
  const minimal = await put('n1', body('n1'), { prefer: 'return=minimal' });
  assert.equal(minimal.status, 200);
  assert.equal(minimal.body, undefined);
  assert.equal(minimal.headers.get('etag'), 'W/"1"');
  assert.equal(await historyTotal('n1'), 1);
});

test('a changed tag makes a version; a stale If-Match on an identical body is still 412', async () => {
  await put('n2', body('n2'));
  const tagged = await put('n2', body('n2', { meta: { tag: [{ system: 'urn:t', code: 'x' }] } }));
  assert.equal(tagged.status, 200);
  assert.equal(tagged.headers.get('etag'), 'W/"2"');
  const stale = await put('n2', body('n2', { meta: { tag: [{ system: 'urn:t', code: 'x' }] } }), { 'if-match': 'W/"1"' });
  assert.equal(stale.status, 412);
  const patched = await s.fhir('/Patient/n2', { method: 'PATCH', body: JSON.stringify([{ op: 'replace', path: '/gender', value: 'female' }]), headers: { 'content-type': 'application/json-patch+json' } });
  assert.equal(patched.status, 200);
  assert.equal(patched.headers.get('etag'), 'W/"2"', 'a patch that changes nothing keeps the version');
  const cond = await s.fhir('/Patient?_id=n2', { method: 'PUT', json: body('n2', { meta: { tag: [{ system: 'urn:t', code: 'x' }] } }) });
  assert.equal(cond.status, 200);
  assert.equal(cond.headers.get('etag'), 'W/"2"', 'conditional update');
  assert.equal(await historyTotal('n2'), 2);
});

test('an update of a deleted resource with its last body is a new version', async () => {
  await put('n3', body('n3'));
  assert.equal((await s.fhir('/Patient/n3', { method: 'DELETE' })).status, 200);
  const back = await put('n3', body('n3'));
  assert.equal(back.status, 201);
  assert.equal(back.headers.get('etag'), 'W/"3"');
});

test('Bundle entries: an unchanged PUT answers 200 with the current version, in a transaction and a batch', async () => {
  await put('n4', body('n4'));
  for (const type of ['transaction', 'batch']) {
    const bundle = {
      resourceType: 'Bundle',
      type,
      entry: [
        { resource: body('n4'), request: { method: 'PUT', url: 'Patient/n4' } },
        { resource: body(`n5-${type}`), request: { method: 'PUT', url: `Patient/n5-${type}` } },
      ],
    };
    const res = await s.fhir('', { method: 'POST', json: bundle });
    assert.equal(res.status, 200);
    const [unchanged, created] = res.body.entry as { resource: { meta: { versionId: string } }; response: { status: string; etag: string; location: string } }[];
    assert.equal(unchanged!.response.status, '200 OK', type);
    assert.equal(unchanged!.response.etag, 'W/"1"');
    assert.match(unchanged!.response.location, /\/Patient\/n4\/_history\/1$/);
    assert.equal(unchanged!.resource.meta.versionId, '1');
    assert.equal(created!.response.status, '201 Created');
  }
  assert.equal(await historyTotal('n4'), 1);
});

test('the unchanged update is audited as an update of the version it kept', async () => {
  await put('n6', body('n6'));
  const res = await put('n6', body('n6'), { 'x-request-id': 'r-noop' });
  assert.equal(res.status, 200);
  const entries = await keys.entries(`SELECT entry_id, canonical FROM audit_entry WHERE request_id = 'r-noop'`);
  assert.deepEqual(
    entries.map((e) => [e.action, e.outcome, e.resources]),
    [['update', 'success', [{ type: 'Patient', id: 'n6', version: 1, patient: 'Patient/n6' }]]],
  );
});
