import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HavenError } from '../../src/kernel/index.js';
import { type FhirResource } from '../../src/store/index.js';

import { BASE, ctx, harness, post, tx, run, rows, idOf, type Harness } from './bundle-harness.js';
const patient = (id?: string, identifier?: string): FhirResource => ({
  resourceType: 'Patient',
  ...(id ? { id } : {}),
  ...(identifier ? { identifier: [{ system: 'urn:sys', value: identifier }] } : {}),
});
const expectEntryError = (code: string, index: number) => (e: unknown) => {
  assert.ok(e instanceof HavenError, String(e));
  assert.equal(e.code, code);
  assert.ok(e.issues[0]!.expression?.includes(`Bundle.entry[${index}]`), JSON.stringify(e.issues));
  return true;
};

describe('transaction bundles', () => {
  let h: Harness;
  let writes: string[][];
  before(async () => {
    h = await harness({ validate: (r) => ((r as FhirResource).status === 'bogus' ? [{ severity: 'error', code: 'value', diagnostics: 'bad status' }] : []) });
    h.store.hooks.afterWrite.push(async (_c, _q, results) => void writes.push(results.map((r) => r.operation)));
  });
  beforeEach(() => (writes = []));
  after(async () => h.t.drop());

  it('assigns ids to urn:uuid and base-URL fullUrls and rewrites every reference to them', async () => {
    const pat = 'urn:uuid:0f1e2d3c-0000-4000-8000-000000000001';
    const obs = {
      resourceType: 'Observation',
      status: 'final',
      subject: { reference: pat },
      encounter: { reference: `${BASE}/Encounter/enc-1` },
      performer: [{ reference: pat, display: 'self' }],
      component: [{ valueReference: { reference: 'urn:oid:1.2.3' } }],
    };
    const out = await run(h, tx([
      { fullUrl: 'urn:uuid:aaaaaaaa-0000-4000-8000-000000000002', resource: obs, request: { method: 'POST', url: 'Observation' } },
      { fullUrl: pat, resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { fullUrl: `${BASE}/Encounter/enc-1`, resource: { resourceType: 'Encounter', id: 'enc-1', status: 'finished' }, request: { method: 'PUT', url: 'Encounter/enc-1' } },
      { fullUrl: 'urn:oid:1.2.3', resource: patient(), request: { method: 'POST', url: `${BASE}/Patient` } },
    ]));
    assert.equal(out.type, 'transaction-response');
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['201 Created', '201 Created', '201 Created', '201 Created']);
    const [o, p, , p2] = out.entry!;
    assert.match(p!.response.location!, new RegExp(`^${BASE}/Patient/[0-9a-f-]{36}/_history/1$`));
    assert.equal(p!.response.etag, 'W/"1"');
    const stored = JSON.parse((await h.store.read(ctx, 'Observation', idOf(o!.response.location))).json!) as typeof obs;
    const patientRef = `Patient/${idOf(p!.response.location)}`;
    assert.equal(stored.subject.reference, patientRef);
    assert.equal(stored.performer[0]!.reference, patientRef);
    assert.equal(stored.encounter.reference, 'Encounter/enc-1');
    assert.equal(stored.component[0]!.valueReference.reference, `Patient/${idOf(p2!.response.location)}`);
    assert.deepEqual(o!.resource!.subject, { reference: patientRef }, 'the response shows the rewritten resource');
  });

  it('processes DELETE, POST, PUT, GET in that order, the plain writes of all phases in one store write, answering in entry order', async () => {
    await h.store.write(ctx, { kind: 'update', id: 'old', resource: patient('old') });
    writes = [];
    const out = await run(h, tx([
      { request: { method: 'GET', url: 'Patient?identifier=urn:sys|order-1' } },
      { resource: patient('p-order'), request: { method: 'PUT', url: 'Patient/p-order' } },
      { resource: patient(undefined, 'order-1'), request: { method: 'POST', url: 'Patient' } },
      { request: { method: 'DELETE', url: 'Patient/old' } },
      { request: { method: 'GET', url: 'Patient/p-order' } },
      { resource: patient(undefined, 'order-2'), request: { method: 'POST', url: 'Patient' } },
    ]));
    assert.deepEqual(writes, [['delete', 'create', 'create', 'update']]);
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['200 OK', '201 Created', '201 Created', '204 No Content', '200 OK', '201 Created']);
    const found = out.entry![0]!.resource as unknown as { type: string; entry: { resource: FhirResource }[] };
    assert.equal(found.type, 'searchset');
    assert.equal(found.entry[0]!.resource.id, idOf(out.entry![2]!.response.location), 'GET ran after the POST');
    assert.equal(out.entry![4]!.resource!.id, 'p-order', 'GET ran after the PUT');
    assert.equal(out.entry![3]!.response.etag, 'W/"2"');
    await assert.rejects(h.store.read(ctx, 'Patient', 'old'), (e: unknown) => e instanceof HavenError && e.code === 'RESOURCE_DELETED');
  });

  it('PUT creates (201) or updates (200) by client id', async () => {
    const first = await run(h, tx([{ resource: patient('put-1'), request: { method: 'PUT', url: 'Patient/put-1' } }]));
    assert.equal(first.entry![0]!.response.status, '201 Created');
    const second = await run(h, tx([{ resource: { ...patient('put-1'), active: true }, request: { method: 'PUT', url: 'Patient/put-1', ifMatch: 'W/"1"' } }]));
    assert.equal(second.entry![0]!.response.status, '200 OK');
    assert.equal(second.entry![0]!.response.etag, 'W/"2"');
    assert.equal(second.entry![0]!.resource!.active, true);
  });

  it('rolls back everything when a later phase fails, naming the failing entry', async () => {
    const before = await rows(h);
    const bundle = tx([
      { fullUrl: 'urn:uuid:11111111-0000-4000-8000-000000000001', resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'final', subject: { reference: 'urn:uuid:11111111-0000-4000-8000-000000000001' } }, request: { method: 'POST', url: 'Observation' } },
      { resource: patient('nobody'), request: { method: 'PUT', url: 'Patient/nobody', ifMatch: 'W/"3"' } },
    ]);
    await assert.rejects(h.bundle(ctx, post(bundle)), expectEntryError('VERSION_CONFLICT', 2));
    await assert.rejects(h.bundle(ctx, post(tx([...bundle.entry.slice(0, 2), { request: { method: 'GET', url: 'Patient/missing' } }]))), expectEntryError('RESOURCE_NOT_FOUND', 2));
    assert.deepEqual(await rows(h), before, 'no resource and no version row was written');
  });

  it('rolls back when the validator rejects one entry (422 naming it)', async () => {
    const before = await rows(h);
    const bundle = tx([
      { resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'bogus' }, request: { method: 'POST', url: 'Observation' } },
    ]);
    await assert.rejects(h.bundle(ctx, post(bundle)), (e: unknown) => expectEntryError('VALIDATION_FAILED', 1)(e) && (e as HavenError).category === 'unprocessable');
    assert.deepEqual(await rows(h), before);
  });

  it('conditional create: a match stands in for the entry, and references to its fullUrl point to it', async () => {
    const existing = (await h.store.write(ctx, { kind: 'create', resource: patient(undefined, 'cc-1') })).stored;
    const ref = 'urn:uuid:22222222-0000-4000-8000-000000000001';
    const out = await run(h, tx([
      { fullUrl: ref, resource: patient(undefined, 'cc-1'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:sys|cc-1' } },
      { resource: { resourceType: 'Observation', status: 'final', subject: { reference: ref } }, request: { method: 'POST', url: 'Observation' } },
      { resource: { resourceType: 'Observation', status: 'final', subject: { reference: 'Patient?identifier=urn:sys|cc-1' } }, request: { method: 'POST', url: 'Observation' } },
      { resource: patient(undefined, 'cc-2'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'Patient?identifier=urn:sys|cc-2' } },
    ]));
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['200 OK', '201 Created', '201 Created', '201 Created']);
    assert.equal(idOf(out.entry![0]!.response.location), existing.id);
    assert.deepEqual(out.entry![1]!.resource!.subject, { reference: `Patient/${existing.id}` });
    assert.deepEqual(out.entry![2]!.resource!.subject, { reference: `Patient/${existing.id}` });
  });

  it('resolves all conditions of a transaction with one read, still naming the entry whose condition matches twice', async () => {
    await h.store.write(ctx, { kind: 'create', resource: patient(undefined, 'batch-1') });
    await h.store.write(ctx, { kind: 'create', resource: patient(undefined, 'dup') });
    await h.store.write(ctx, { kind: 'create', resource: patient(undefined, 'dup') });
    let reads = 0;
    const counter = async () => void (reads += 1);
    h.store.hooks.afterRead.push(counter);
    try {
      const obs = (reference: string) => ({ resource: { resourceType: 'Observation', status: 'final', subject: { reference } }, request: { method: 'POST', url: 'Observation' } });
      const out = await run(h, tx([
        { resource: patient(undefined, 'batch-1'), request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:sys|batch-1' } },
        { resource: patient(undefined, 'batch-2'), request: { method: 'PUT', url: 'Patient?identifier=urn:sys|batch-2' } },
        obs('Patient?identifier=urn:sys|batch-1'),
      ]));
      assert.deepEqual(out.entry!.map((e) => e.response.status), ['200 OK', '201 Created', '201 Created']);
      assert.equal(reads, 1, 'the three conditions were searched in one statement');
      const before = await rows(h);
      await assert.rejects(h.bundle(ctx, post(tx([obs('Patient?identifier=urn:sys|batch-1'), obs('Patient?identifier=urn:sys|dup')]))), (e: unknown) => expectEntryError('CONDITIONAL_MULTIPLE_MATCHES', 1)(e) && (e as HavenError).category === 'precondition');
      assert.deepEqual(await rows(h), before);
    } finally {
      h.store.hooks.afterRead.splice(h.store.hooks.afterRead.indexOf(counter), 1);
    }
  });

  it('fails on a conditional reference matching nothing, a dangling urn:uuid, or two entries on one resource', async () => {
    const before = await rows(h);
    const obs = (reference: string) => ({ resource: { resourceType: 'Observation', status: 'final', subject: { reference } }, request: { method: 'POST', url: 'Observation' } });
    const first = { resource: patient(), request: { method: 'POST', url: 'Patient' } };
    await assert.rejects(h.bundle(ctx, post(tx([first, obs('Patient?identifier=urn:sys|none')]))), (e: unknown) => expectEntryError('CONDITIONAL_REFERENCE_NO_MATCH', 1)(e) && (e as HavenError).category === 'precondition');
    await assert.rejects(h.bundle(ctx, post(tx([first, obs('urn:uuid:33333333-0000-4000-8000-000000000009')]))), expectEntryError('BUNDLE_UNRESOLVED_REFERENCE', 1));
    const put = { resource: patient('twice'), request: { method: 'PUT', url: 'Patient/twice' } };
    await assert.rejects(h.bundle(ctx, post(tx([put, { request: { method: 'DELETE', url: 'Patient/twice' } }]))), expectEntryError('BUNDLE_DUPLICATE_TARGET', 1));
    assert.deepEqual(await rows(h), before);
  });

  it('honours Prefer: return=minimal and return=OperationOutcome', async () => {
    const entry = [{ resource: patient(), request: { method: 'POST', url: 'Patient' } }];
    const minimal = await run(h, tx(entry), 'return=minimal');
    assert.equal(minimal.entry![0]!.resource, undefined);
    assert.match(minimal.entry![0]!.response.location!, /\/_history\/1$/);
    const oo = await run(h, tx(entry), 'return=OperationOutcome');
    assert.equal(oo.entry![0]!.resource, undefined);
    assert.ok(oo.entry![0]!.response.outcome);
  });

  it('applies a JSON Patch carried in a Binary', async () => {
    await h.store.write(ctx, { kind: 'update', id: 'patch-me', resource: patient('patch-me') });
    const doc = Buffer.from(JSON.stringify([{ op: 'add', path: '/active', value: true }])).toString('base64');
    const out = await run(h, tx([{ resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: doc }, request: { method: 'PATCH', url: 'Patient/patch-me' } }]));
    assert.equal(out.entry![0]!.response.status, '200 OK');
    assert.equal(out.entry![0]!.response.etag, 'W/"2"');
    assert.equal((JSON.parse((await h.store.read(ctx, 'Patient', 'patch-me')).json!) as FhirResource).active, true);
  });

  it('keeps the phases apart when a PATCH may read what an earlier phase wrote', async () => {
    await h.store.write(ctx, { kind: 'update', id: 'patch-2', resource: patient('patch-2') });
    const doc = Buffer.from(JSON.stringify([{ op: 'add', path: '/active', value: true }])).toString('base64');
    writes = [];
    const out = await run(h, tx([
      { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: doc }, request: { method: 'PATCH', url: 'Patient/patch-2' } },
      { resource: patient(undefined, 'patch-order'), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('patch-put'), request: { method: 'PUT', url: 'Patient/patch-put' } },
    ]));
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['200 OK', '201 Created', '201 Created']);
    assert.deepEqual(writes, [['create'], ['update'], ['update']], 'POST, PUT, then the PATCH, each phase on its own');
  });
});
