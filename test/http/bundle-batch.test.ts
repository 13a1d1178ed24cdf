import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HavenError } from '../../src/kernel/index.js';
import { type FhirResource } from '../../src/store/index.js';

import { BASE, ctx, harness, post, tx, run, rows, idOf, type Harness } from './bundle-harness.js';
const patient = (id?: string): FhirResource => ({ resourceType: 'Patient', ...(id ? { id } : {}) });
const isCode = (code: string, expression?: string) => (e: unknown) => {
  assert.ok(e instanceof HavenError, String(e));
  assert.equal(e.code, code);
  if (expression) assert.ok(e.issues[0]!.expression?.includes(expression), JSON.stringify(e.issues));
  return true;
};

describe('batch bundles', () => {
  let h: Harness;
  before(async () => (h = await harness({ maxBundleEntries: 5 })));
  after(async () => h.t.drop());

  it('answers every entry on its own: failures do not undo the others', async () => {
    await h.store.write(ctx, { kind: 'update', id: 'b-keep', resource: patient('b-keep') });
    const out = await run(h, tx([
      { resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('not-x'), request: { method: 'PUT', url: 'Patient/x' } },
      { request: { method: 'DELETE' } },
      { resource: patient('b-keep'), request: { method: 'PUT', url: 'Patient/b-keep', ifMatch: 'W/"7"' } },
      { resource: patient('b-new'), request: { method: 'PUT', url: `${BASE}/Patient/b-new` } },
    ], 'batch'));
    assert.equal(out.type, 'batch-response');
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['201 Created', '400 Bad Request', '400 Bad Request', '412 Precondition Failed', '201 Created']);
    assert.deepEqual(out.entry![2]!.response.outcome!.issue[0]!.expression, ['Bundle.entry[2].request']);
    assert.equal(out.entry![1]!.resource, undefined);
    await h.store.read(ctx, 'Patient', idOf(out.entry![0]!.response.location));
    await h.store.read(ctx, 'Patient', 'b-new');
    assert.equal((await h.store.read(ctx, 'Patient', 'b-keep')).versionId, 1, 'the failed conditional update wrote nothing');
  });

  it('runs GET, PATCH and DELETE entries, including ones that fail', async () => {
    await h.store.write(ctx, { kind: 'update', id: 'b-get', resource: patient('b-get') });
    const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/active', value: false }])).toString('base64');
    const out = await run(h, tx([
      { request: { method: 'GET', url: 'Patient/b-get' } },
      { request: { method: 'GET', url: 'Patient/b-missing' } },
      { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patch }, request: { method: 'PATCH', url: 'Patient/b-get' } },
      { request: { method: 'DELETE', url: 'Patient/b-never' } },
      { request: { method: 'GET', url: 'Unknown/1' } },
    ], 'batch'));
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['200 OK', '404 Not Found', '200 OK', '204 No Content', '404 Not Found']);
    assert.equal(out.entry![0]!.resource!.id, 'b-get');
    assert.equal(out.entry![0]!.resource!.active, false, 'PATCH (PUT/PATCH phase) ran before GET');
  });

  it('leaves urn:uuid references alone (no interdependencies in a batch)', async () => {
    const out = await run(h, tx([
      { fullUrl: 'urn:uuid:44444444-0000-4000-8000-000000000001', resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'final', subject: { reference: 'urn:uuid:44444444-0000-4000-8000-000000000001' } }, request: { method: 'POST', url: 'Observation' } },
    ], 'batch'));
    assert.deepEqual(out.entry![1]!.resource!.subject, { reference: 'urn:uuid:44444444-0000-4000-8000-000000000001' });
  });
});

describe('bundle envelope', () => {
  let h: Harness;
  before(async () => (h = await harness({ maxBundleEntries: 2 })));
  after(async () => h.t.drop());

  it('refuses other Bundle types and non-Bundles', async () => {
    await assert.rejects(h.bundle(ctx, post(tx([], 'collection'))), isCode('BUNDLE_TYPE_UNSUPPORTED'));
    await assert.rejects(h.bundle(ctx, post(patient())), isCode('BODY_NOT_BUNDLE'));
    await assert.rejects(h.bundle(ctx, post({ resourceType: 'Bundle', type: 'batch', entry: {} })), isCode('BUNDLE_BAD_ENTRY'));
  });

  it('refuses more entries than the limit (413) before touching the database', async () => {
    const entry = { resource: patient(), request: { method: 'POST', url: 'Patient' } };
    await assert.rejects(h.bundle(ctx, post(tx([entry, entry, entry]))), (e: unknown) => isCode('BUNDLE_TOO_MANY_ENTRIES')(e) && (e as HavenError).category === 'too-large');
    assert.deepEqual(await rows(h), { current: 0, versions: 0 });
  });

  it('fails a transaction on an entry without request.method/url, or with a foreign URL', async () => {
    const good = { resource: patient(), request: { method: 'POST', url: 'Patient' } };
    await assert.rejects(h.bundle(ctx, post(tx([good, { resource: patient() }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[1].request'));
    await assert.rejects(h.bundle(ctx, post(tx([good, { request: { method: 'GET' } }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[1].request'));
    await assert.rejects(h.bundle(ctx, post(tx([{ request: { method: 'GET', url: 'http://elsewhere.test/fhir/Patient/1' } }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[0].request.url'));
    await assert.rejects(h.bundle(ctx, post(tx([{ request: { method: 'POST', url: '/' }, resource: tx([]) }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[0].request'));
    assert.deepEqual(await rows(h), { current: 0, versions: 0 });
  });

  it('answers an empty transaction with an empty transaction-response', async () => {
    const out = await run(h, tx([]));
    assert.equal(out.type, 'transaction-response');
    assert.equal(out.entry, undefined);
  });
});
