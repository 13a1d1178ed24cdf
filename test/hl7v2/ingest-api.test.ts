import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { auditKeysOf } from '../support/audit-keys.js';
import { msa, sample, startHl7Harness, testConverter, variant, type Hl7Harness } from './mllp-support.js';

const A01 = sample('ADT-A01-01.hl7');
const ORU = sample('ORU-R01-01.hl7');
/** A message whose PID-5 is empty: the strict "template" cannot convert it. */
const noName = (id: string, patient: string) =>
  variant(A01, id, patient)
    .split('\r')
    .map((l) => (l.startsWith('PID') ? l.split('|').map((f, i) => (i === 5 ? '' : f)).join('|') : l))
    .join('\r');

describe('HL7 v2 message store API, dead letter and replay', () => {
  let h: Hl7Harness;
  const strict = { on: false };
  let token: string;
  before(async () => {
    h = await startHl7Harness(testConverter(strict));
    token = await h.token();
  });
  after(async () => h.close());

  async function call(method: string, path: string, init: { body?: string; type?: string; token?: string | null } = {}) {
    const headers: Record<string, string> = {};
    if (init.token !== null) headers['authorization'] = `Bearer ${init.token ?? token}`;
    if (init.body !== undefined) headers['content-type'] = init.type ?? 'x-application/hl7-v2+er7';
    const res = await fetch(`${h.baseUrl}${path}`, { method, headers, ...(init.body !== undefined ? { body: init.body } : {}) });
    const text = await res.text();
    let body: any = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* Prometheus text */
    }
    return { status: res.status, body, type: res.headers.get('content-type') ?? '' };
  }

  it('POST /hl7v2/messages stores, converts and answers with the ACK and the message id', async () => {
    const r = await call('POST', '/hl7v2/messages', { body: variant(A01, 'HTTP-1', 'P-HTTP-1') });
    assert.equal(r.status, 200);
    assert.equal(r.body.status, 'processed');
    assert.equal(r.body.ackCode, 'AA');
    assert.equal(msa(r.body.ack).controlId, 'HTTP-1');
    assert.match(r.body.id, /^[0-9a-f-]{36}$/);
    const again = await call('POST', '/hl7v2/messages', { body: variant(A01, 'HTTP-1', 'P-HTTP-1'), type: 'text/plain' });
    assert.equal(again.body.duplicate, true);
    assert.equal(again.body.id, r.body.id);
    assert.equal(again.body.ack, r.body.ack);
  });

  it('refuses callers without a token or without write scopes', async () => {
    assert.equal((await call('POST', '/hl7v2/messages', { body: variant(A01, 'HTTP-X', 'P'), token: null })).status, 401);
    assert.equal((await call('GET', '/hl7v2/messages', { token: null })).status, 401);
    assert.equal((await call('GET', '/metrics', { token: null })).status, 401);
    const reader = await h.token('system/*.rs');
    const r = await call('POST', '/hl7v2/messages', { body: variant(A01, 'HTTP-X', 'P'), token: reader });
    assert.equal(r.status, 403);
    assert.equal(r.body.resourceType, 'OperationOutcome');
    assert.equal((await call('GET', '/hl7v2/messages', { token: reader })).status, 200);
  });

  it('lists metadata only, filtered by type, trigger, sender, status and patient, with paging', async () => {
    for (let i = 0; i < 3; i++) await call('POST', '/hl7v2/messages', { body: variant(ORU, `LIST-${i}`, `P-LIST-${i}`) });
    const oru = await call('GET', '/hl7v2/messages?type=ORU&trigger=R01&status=processed');
    assert.equal(oru.status, 200);
    assert.deepEqual(oru.body.messages.map((m: any) => m.controlId).sort(), ['LIST-0', 'LIST-1', 'LIST-2']);
    assert.equal(oru.body.messages[0].message, undefined, 'no message text in a list');
    const byPatient = await call('GET', `/hl7v2/messages?patient=${encodeURIComponent('P-LIST-1')}`);
    assert.deepEqual(byPatient.body.messages.map((m: any) => m.controlId), ['LIST-1']);
    const sender = oru.body.messages[0].sender as string;
    assert.equal((await call('GET', `/hl7v2/messages?sender=${encodeURIComponent(sender)}&type=ORU`)).body.messages.length, 3);
    const page1 = await call('GET', '/hl7v2/messages?type=ORU&_count=2');
    assert.equal(page1.body.messages.length, 2);
    const page2 = await call('GET', `/hl7v2/messages?type=ORU&_count=2&cursor=${page1.body.next}`);
    assert.deepEqual([...page1.body.messages, ...page2.body.messages].map((m: any) => m.controlId).sort(), ['LIST-0', 'LIST-1', 'LIST-2']);
    const bad = await call('GET', '/hl7v2/messages?status=maybe');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.issue[0].details.coding[0].code, 'HL7_QUERY_INVALID');
  });

  it('GET /hl7v2/messages/:id returns the decrypted message and records the read in the audit log', async () => {
    const posted = await call('POST', '/hl7v2/messages', { body: variant(A01, 'READ-1', 'P-READ-1') });
    const r = await call('GET', `/hl7v2/messages/${posted.body.id}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.message, variant(A01, 'READ-1', 'P-READ-1'));
    assert.equal(r.body.controlId, 'READ-1');
    // Entries are format v2 (resource ids sealed): read them opened, as an auditor does.
    const keys = auditKeysOf(h.testDb.db, h.dataDir);
    const reads = await keys.entries("SELECT entry_id, canonical FROM audit_entry WHERE action = 'read'");
    await keys.close();
    assert.equal(reads.filter((e) => e.resources.some((r) => r.id === posted.body.id)).length, 1);
    assert.equal((await call('GET', '/hl7v2/messages/00000000-0000-4000-8000-000000000000')).status, 404);
  });

  it('dead letter: AE on a conversion failure, replay after the template is fixed, exactly once', async () => {
    strict.on = true;
    const failed = await call('POST', '/hl7v2/messages', { body: noName('DL-1', 'P-DL-1') });
    await call('POST', '/hl7v2/messages', { body: noName('DL-2', 'P-DL-2') });
    await call('POST', '/hl7v2/messages', { body: noName('DL-3', 'P-DL-3') });
    assert.equal(failed.body.status, 'failed');
    assert.equal(failed.body.ackCode, 'AE');
    assert.match(msa(failed.body.ack).text, /PID-5/);
    const dead = await call('GET', '/hl7v2/messages?status=failed');
    assert.deepEqual(dead.body.messages.map((m: any) => m.controlId).sort(), ['DL-1', 'DL-2', 'DL-3']);
    assert.equal(dead.body.messages[0].errorCode, 'HL7_CONVERSION_FAILED');
    const stillBroken = await call('POST', `/hl7v2/messages/${failed.body.id}/$replay`);
    assert.equal(stillBroken.body.status, 'failed');
    strict.on = false; // the "template fix"
    const provenance = await h.count('Provenance');
    const one = await call('POST', `/hl7v2/messages/${failed.body.id}/$replay`);
    assert.equal(one.status, 200);
    assert.equal(one.body.status, 'processed');
    assert.equal(one.body.replays, 2);
    for (const bad of ['abc', '0', '1.5', '100001']) {
      const refused = await call('POST', `/hl7v2/$replay?_count=${bad}`);
      assert.equal(refused.status, 400, `_count=${bad}`);
      assert.equal(refused.body.issue[0].details.coding[0].code, 'HL7_QUERY_INVALID');
    }
    const rest = await call('POST', '/hl7v2/$replay');
    assert.equal(rest.body.replayed, 2);
    assert.equal(rest.body.processed, 2);
    assert.equal(await h.count('Provenance'), provenance + 3);
    const again = await call('POST', `/hl7v2/messages/${failed.body.id}/$replay`);
    assert.equal(again.status, 409, 'a processed message is not replayed');
    assert.equal((await call('GET', '/hl7v2/messages?status=failed')).body.messages.length, 0);
  });

  it('answers AR for a malformed body and GET /metrics counts per channel in Prometheus format', async () => {
    const r = await call('POST', '/hl7v2/messages', { body: 'this is not HL7' });
    assert.equal(r.body.ackCode, 'AR');
    assert.equal(r.body.status, 'rejected');
    const m = await call('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.type, /^text\/plain/);
    assert.match(m.body, /haven_hl7v2_received_total\{channel="http"\} \d+/);
    assert.match(m.body, /haven_hl7v2_acked_total\{channel="http",code="AA"\} \d+/);
    assert.match(m.body, /haven_hl7v2_acked_total\{channel="http",code="AR"\} 1/);
    assert.match(m.body, /haven_hl7v2_replayed_total\{channel="http"\} 4/);
    assert.match(m.body, /haven_hl7v2_ack_latency_seconds_bucket\{channel="http",le="\+Inf"\} \d+/);
  });
});
