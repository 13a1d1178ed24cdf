import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AuditedContext, EntryFacts } from '../../src/audit/entry.js';
import { createAuditHttpHooks } from '../../src/audit/http-hooks.js';
import type { AuditRecorder } from '../../src/audit/recorder.js';
import { auditStoreHooks } from '../../src/audit/store-hooks.js';
import type { TenantId } from '../../src/kernel/index.js';
import type { StoredResource } from '../../src/store/index.js';

/**
 * A search's reads (its page and each include round) are held and recorded as
 * one entry when the response is ready; nothing is lost when a read comes
 * later, and nothing held is recorded as a success when the request fails.
 */
function fakeRecorder(fail = false) {
  const calls: EntryFacts[][] = [];
  const fake: Pick<AuditRecorder, 'inTransaction' | 'record'> = {
    inTransaction: async () => undefined,
    async record(ctx, facts) {
      if (fail) throw new Error('audit down');
      calls.push(facts);
      if (ctx.audit) ctx.audit.recorded += facts.length;
    },
  };
  // Only the two methods the hooks call; the recorder's other members are not used here.
  return { recorder: fake as AuditRecorder, calls };
}

const ctxOf = (): AuditedContext => ({
  tenant: 't1' as TenantId,
  requestId: 'r1',
  principal: { subject: 'u', clientId: 'c', kind: 'user', scopes: [] },
});

const stored = (resourceType: string, id: string, json: object): StoredResource => ({
  resourceType,
  id,
  versionId: 1,
  lastUpdated: new Date(0),
  deleted: false,
  json: JSON.stringify({ resourceType, id, ...json }),
});

const o1 = stored('Observation', 'o1', { subject: { reference: 'Patient/p1' } });
const o2 = stored('Observation', 'o2', { subject: { reference: 'Patient/p2' } });
const p1 = stored('Patient', 'p1', {});
const pv = stored('Provenance', 'pv', { target: [{ reference: 'Observation/o1' }] });

test('a search records one entry, at completion, naming the page and every include round', async () => {
  const { recorder, calls } = fakeRecorder();
  const http = createAuditHttpHooks(recorder, () => undefined);
  const store = auditStoreHooks(recorder);
  const ctx = ctxOf();
  http.prepare(ctx, 'GET', ['Observation'], undefined);
  await store.afterRead(ctx, [o1, o2]);
  await store.afterRead({ ...ctx }, [p1]); // a copy of the context shares the request's audit facts
  await store.afterRead(ctx, [pv]);
  assert.equal(calls.length, 0, 'nothing recorded per statement');
  await http.completed(ctx, 200);
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.length, 1);
  const [facts] = calls[0]!;
  assert.equal(facts!.action, 'search');
  assert.deepEqual(
    facts!.resources.map((r) => [`${r.type}/${r.id}`, r.patient]),
    [['Observation/o1', 'Patient/p1'], ['Observation/o2', 'Patient/p2'], ['Patient/p1', 'Patient/p1'], ['Provenance/pv', undefined]],
  );
  // A read after the response was audited (a late or background read with this context) is recorded at once.
  await store.afterRead(ctx, [p1]);
  assert.equal(calls.length, 2);
  await http.completed(ctx, 200);
  assert.equal(calls.length, 2, 'completion records nothing more');
});

test('a search that fails records its failure, not the reads it held; an empty search names the type', async () => {
  const { recorder, calls } = fakeRecorder();
  const http = createAuditHttpHooks(recorder, () => undefined);
  const store = auditStoreHooks(recorder);
  const ctx = ctxOf();
  http.prepare(ctx, 'GET', ['Observation'], undefined);
  await store.afterRead(ctx, [o1]);
  await http.failed(ctx, { tenant: ctx.tenant, method: 'GET', path: ['Observation'], status: 500, error: new Error('boom'), requestId: 'r1' });
  assert.equal(calls.length, 1);
  assert.equal(calls[0]![0]!.outcome, 'failure');
  assert.deepEqual(calls[0]![0]!.resources, [{ type: 'Observation' }]);

  const empty = ctxOf();
  http.prepare(empty, 'GET', ['Observation'], undefined);
  await store.afterRead(empty, []);
  await http.completed(empty, 200);
  assert.equal(calls.length, 2);
  assert.deepEqual(calls[1]![0]!.resources, [{ type: 'Observation' }]);
});

test('fail closed: completion throws when the held entry cannot be recorded', async () => {
  const { recorder } = fakeRecorder(true);
  const http = createAuditHttpHooks(recorder, () => undefined);
  const store = auditStoreHooks(recorder);
  const ctx = ctxOf();
  http.prepare(ctx, 'GET', ['Observation'], undefined);
  await store.afterRead(ctx, [o1]);
  await assert.rejects(http.completed(ctx, 200), /audit down/);
});

test('reads and history are still recorded when read', async () => {
  const { recorder, calls } = fakeRecorder();
  const http = createAuditHttpHooks(recorder, () => undefined);
  const store = auditStoreHooks(recorder);
  for (const [method, path] of [
    ['GET', ['Observation', 'o1']],
    ['GET', ['Observation', 'o1', '_history']],
  ] as const) {
    const ctx = ctxOf();
    http.prepare(ctx, method, [...path], undefined);
    const before = calls.length;
    await store.afterRead(ctx, [o1]);
    assert.equal(calls.length, before + 1, `${method} /${path.join('/')}`);
  }
});

test('a Bundle\'s reads outside its entries (conditional matches) are one read entry, recorded with the Bundle', async () => {
  const { recorder, calls } = fakeRecorder();
  const http = createAuditHttpHooks(recorder, () => undefined);
  const store = auditStoreHooks(recorder);
  const ctx = ctxOf();
  http.prepare(ctx, 'POST', [], undefined);
  await store.afterRead(ctx, [o1]);
  await store.afterRead(ctx, [p1]);
  assert.equal(calls.length, 0, 'held until the Bundle is recorded');
  await http.completed(ctx, 200);
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.map((f) => [f.action, f.resources.map((r) => `${r.type}/${r.id}`)]), [['read', ['Observation/o1', 'Patient/p1']]]);
});
