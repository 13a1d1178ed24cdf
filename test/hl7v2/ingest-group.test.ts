import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Hl7Converter } from '../../src/hl7v2/index.js';
import { channelContext } from '../../src/hl7v2/mllp/index.js';
import { DEFAULT_TENANT } from '../../src/kernel/index.js';
import { msa, sample, startHl7Harness, testConverter, variant, type Hl7Harness } from './mllp-support.js';

const A08 = sample('ADT-A08-01.hl7');

/**
 * The test converter, except that a patient id starting with BAD yields a
 * Patient the FHIR validator refuses: a message that converts but fails in the
 * shared transaction, which must not take the other messages of its group down.
 */
function converterWithBadPatients(): Hl7Converter {
  const base = testConverter();
  return {
    convert(input) {
      const out = base.convert(input);
      if (input.message.get('PID-3.1')?.startsWith('BAD')) {
        const first = out.bundle.entry[0] as { resource: Record<string, unknown> };
        first.resource.birthDate = 'not-a-date';
      }
      return out;
    },
  };
}

describe('group commit of original-mode messages', () => {
  let h: Hl7Harness;
  const ctx = channelContext(DEFAULT_TENANT, { remoteAddress: '127.0.0.1' });
  before(async () => {
    h = await startHl7Harness(converterWithBadPatients());
  });
  after(async () => h.close());

  const ingest = (text: string) => h.app.hl7.ingester.ingest(Buffer.from(text), { channel: 'mllp', ctx });

  /** How many database transactions wrote these messages (rows inserted together share xmin). */
  async function transactionsOf(ids: string[]): Promise<number> {
    const r = await h.testDb.db.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM hl7v2_message WHERE tenant_id = $1 AND id = ANY($2::uuid[])', [DEFAULT_TENANT, ids]);
    return Number(r.rows[0]!.n);
  }

  it('commits concurrent messages together; one failing in the FHIR transaction gets AE, the others AA', async () => {
    const texts = Array.from({ length: 9 }, (_, i) => variant(A08, `GRP-${i}`, i === 4 ? 'BAD-4' : `P-GRP-${i}`));
    const results = await Promise.all(texts.map(ingest));
    assert.deepEqual(results.map((r) => r.ackCode), ['AA', 'AA', 'AA', 'AA', 'AE', 'AA', 'AA', 'AA', 'AA']);
    assert.equal(msa(results[4]!.ack!).code, 'AE');
    const ok = results.filter((r) => r.ackCode === 'AA').map((r) => r.messageId!);
    for (const id of ok) assert.equal((await h.app.hl7.store.get(DEFAULT_TENANT, id))?.status, 'processed');
    assert.equal((await h.app.hl7.store.get(DEFAULT_TENANT, results[4]!.messageId!))?.status, 'failed');
    assert.ok((await transactionsOf(ok)) < ok.length, 'messages arriving together share a transaction');
    assert.equal(await h.count('Provenance'), 8);
    assert.equal(await h.count('Patient'), 8, 'nothing of the failed message was written');
  });

  it('applies a message sent twice at once exactly once; both copies get the same AA', async () => {
    const text = variant(A08, 'GRP-DUP', 'P-GRP-DUP');
    const before = await h.count('Provenance');
    const [a, b, c] = await Promise.all([ingest(text), ingest(text), ingest(variant(A08, 'GRP-OTHER', 'P-GRP-OTHER'))]);
    assert.equal(a!.ackCode, 'AA');
    assert.equal(b!.ack, a!.ack, 'the resend is answered with the ACK of the first');
    assert.equal(b!.duplicate, true);
    assert.equal(c!.ackCode, 'AA');
    assert.equal(await h.count('Provenance'), before + 2);
    const resend = await ingest(text);
    assert.equal(resend.ack, a!.ack);
    assert.equal(await h.count('Provenance'), before + 2);
  });

  it('puts messages about one patient into successive transactions, in arrival order', async () => {
    const texts = ['GRP-P1', 'GRP-P2', 'GRP-P3'].map((id) => variant(A08, id, 'P-GRP-SAME'));
    const results = await Promise.all([ingest(variant(A08, 'GRP-P0', 'P-GRP-X')), ...texts.map(ingest)]);
    assert.ok(results.every((r) => r.ackCode === 'AA'));
    const same = results.slice(1).map((r) => r.messageId!);
    assert.equal(await transactionsOf(same), 3);
    const r = await h.testDb.db.query<{ id: string }>('SELECT id FROM hl7v2_message WHERE tenant_id = $1 AND id = ANY($2::uuid[]) ORDER BY xmin::text::bigint', [DEFAULT_TENANT, same]);
    assert.deepEqual(r.rows.map((x) => x.id), same);
  });

  it('leaves enhanced-mode messages on the per-message path (stored first, commit ACK)', async () => {
    const r = await ingest(variant(A08, 'GRP-ENH', 'P-GRP-ENH', { msh15: 'AL', msh16: 'NE' }));
    assert.equal(r.ackCode, 'CA');
    await r.pending;
    assert.equal((await h.app.hl7.store.get(DEFAULT_TENANT, r.messageId!))?.status, 'processed');
  });
});

describe('group commit switched off', () => {
  let h: Hl7Harness;
  before(async () => {
    h = await startHl7Harness(testConverter(), {}, { groupCommit: false });
  });
  after(async () => h.close());

  it('writes each message in its own transaction', async () => {
    const ctx = channelContext(DEFAULT_TENANT, { remoteAddress: '127.0.0.1' });
    const results = await Promise.all(['OFF-1', 'OFF-2', 'OFF-3'].map((id, i) => h.app.hl7.ingester.ingest(Buffer.from(variant(A08, id, `P-OFF-${i}`)), { channel: 'mllp', ctx })));
    assert.ok(results.every((r) => r.ackCode === 'AA'));
    const r = await h.testDb.db.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM hl7v2_message WHERE tenant_id = $1', [DEFAULT_TENANT]);
    assert.equal(Number(r.rows[0]!.n), 3);
  });
});

describe('group limits from the configuration', () => {
  let h: Hl7Harness;
  before(async () => {
    // One message per group, one group at a time: concurrent messages queue behind each other's commit.
    h = await startHl7Harness(testConverter(), { HAVEN_HL7_GROUP_MESSAGES: '1', HAVEN_HL7_GROUPS_IN_FLIGHT: '1' });
  });
  after(async () => h.close());

  it('HAVEN_HL7_GROUP_MESSAGES=1 writes every message in a transaction of its own', async () => {
    const ctx = channelContext(DEFAULT_TENANT, { remoteAddress: '127.0.0.1' });
    const results = await Promise.all(['CFG-1', 'CFG-2', 'CFG-3', 'CFG-4'].map((id, i) => h.app.hl7.ingester.ingest(Buffer.from(variant(A08, id, `P-CFG-${i}`)), { channel: 'mllp', ctx })));
    assert.ok(results.every((r) => r.ackCode === 'AA'));
    const r = await h.testDb.db.query<{ n: string }>('SELECT count(DISTINCT xmin::text) AS n FROM hl7v2_message WHERE tenant_id = $1', [DEFAULT_TENANT]);
    assert.equal(Number(r.rows[0]!.n), 4);
  });
});
