import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AuditedContext, EntryFacts } from '../../src/audit/entry.js';
import { createAuditHttpHooks } from '../../src/audit/http-hooks.js';
import type { AuditRecorder } from '../../src/audit/recorder.js';
import { auditStoreHooks } from '../../src/audit/store-hooks.js';
import { HavenError } from '../../src/kernel/index.js';
import { ctx as baseCtx, harness, post, rows, tx, type Harness, type Out } from './bundle-harness.js';

/**
 * The Bundle processor with the audit hooks over a recorder that can be made
 * to fail: every entry's read record goes out in ONE record call before the
 * response is built; when it fails, no PHI is answered, and a batch whose
 * writes were already committed reports them rather than hiding them behind
 * a 503.
 */
let h: Harness;
const recorder = { fail: false, calls: [] as EntryFacts[][], written: 0 };
const fake: Pick<AuditRecorder, 'inTransaction' | 'record'> = {
  async inTransaction(c, _tx, facts) {
    recorder.written += facts.length;
    if (c.audit) c.audit.recorded += facts.length;
  },
  async record(c, facts) {
    if (recorder.fail) throw new HavenError('unavailable', 'AUDIT_UNAVAILABLE', 'audit down');
    recorder.calls.push(facts);
    if (c.audit) c.audit.recorded += facts.length;
  },
};
const http = createAuditHttpHooks(fake as AuditRecorder, () => undefined);

before(async () => {
  h = await harness();
  const hooks = auditStoreHooks(fake as AuditRecorder);
  h.store.hooks.afterRead.push(hooks.afterRead);
  h.store.hooks.afterWrite.push(hooks.afterWrite);
  const seed = await h.bundle(prepared(), post(tx([0, 1].map((i) => put(`a${i}`)), 'batch')));
  assert.equal(seed.status, 200);
});
after(async () => h?.t.drop());

function prepared(): AuditedContext {
  const c: AuditedContext = { ...baseCtx };
  http.prepare(c, 'POST', [], undefined);
  return c;
}
const put = (id: string) => ({ resource: { resourceType: 'Patient', id, identifier: [{ system: 'urn:t', value: id }] }, request: { method: 'PUT', url: `Patient/${id}` } });
const get = (url: string) => ({ request: { method: 'GET', url } });
const statuses = (out: Out) => out.entry!.map((e) => e.response.status);

test('all entries of a Bundle are recorded in ONE call, each as the request alone, in entry order', async () => {
  recorder.calls = [];
  const res = await h.bundle(prepared(), post(tx([get('Patient/a1'), get('Patient?identifier=urn:t|a0'), get('Patient/missing')], 'batch')));
  assert.deepEqual(statuses(JSON.parse(res.body as string) as Out), ['200 OK', '200 OK', '404 Not Found']);
  assert.equal(recorder.calls.length, 1, 'one record call: one durable wait for the whole Bundle');
  assert.deepEqual(
    recorder.calls[0]!.map((f) => [f.action, f.outcome, f.resources.map((r) => `${r.type}/${r.id}`)]),
    [
      ['read', 'success', ['Patient/a1']],
      ['search', 'success', ['Patient/a0']],
      ['read', 'failure', ['Patient/missing']],
    ],
  );
});

test('fail closed: a batch that wrote nothing answers 503 when its records cannot be made durable', async () => {
  recorder.fail = true;
  try {
    await assert.rejects(h.bundle(prepared(), post(tx([get('Patient/a1'), get('Patient?identifier=urn:t|a0')], 'batch'))), /AUDIT_UNAVAILABLE|audit down/);
  } finally {
    recorder.fail = false;
  }
});

test('fail closed: a batch whose write committed keeps its outcome; its reads answer 503 with no PHI', async () => {
  recorder.fail = true;
  let out: Out;
  try {
    const res = await h.bundle(prepared(), post(tx([put('b1'), get('Patient/a1')], 'batch')));
    out = JSON.parse(res.body as string) as Out;
  } finally {
    recorder.fail = false;
  }
  assert.deepEqual(statuses(out), ['201 Created', '503 Service Unavailable']);
  assert.equal(out.entry![1]!.resource, undefined, 'no resource in the read entry');
  assert.equal(JSON.stringify(out).includes('"a1"'), false);
});

test('fail closed: a transaction whose records cannot be made durable rolls back and answers 503', async () => {
  const before = await rows(h);
  recorder.fail = true;
  try {
    await assert.rejects(h.bundle(prepared(), post(tx([put('c1'), get('Patient?identifier=urn:t|a0')]))), /AUDIT_UNAVAILABLE|audit down/);
  } finally {
    recorder.fail = false;
  }
  assert.deepEqual(await rows(h), before, 'the transaction left nothing behind');
});
