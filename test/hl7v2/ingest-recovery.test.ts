import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { channelContext } from '../../src/hl7v2/mllp/index.js';
import { DEFAULT_TENANT } from '../../src/kernel/index.js';
import { connectMllp } from '../../src/hl7v2/mllp/index.js';
import { msa, sample, startHl7Harness, testConverter, variant, type Hl7Harness } from './mllp-support.js';

const A08 = sample('ADT-A08-01.hl7');

describe('messages left `received` by a crash', () => {
  let h: Hl7Harness;
  before(async () => {
    h = await startHl7Harness(testConverter());
  });
  after(async () => h.close());

  /** What a crash between "stored" and "processed" leaves behind: the row, nothing else. */
  async function storedOnly(controlId: string, patient: string): Promise<string> {
    const id = randomUUID();
    await h.app.hl7.store.insert(DEFAULT_TENANT, {
      id, channel: 'mllp', sender: 'ADTApp^GHHSFacility', controlId, type: 'ADT', trigger: 'A08', version: '2.8',
      patientKeys: [], status: 'received', raw: Buffer.from(variant(A08, controlId, patient)), receivedAt: new Date(),
    });
    return id;
  }

  it('are processed once at start-up (recover), in arrival order', async () => {
    const ids = [await storedOnly('REC-1', 'P-REC'), await storedOnly('REC-2', 'P-REC')];
    const n = await h.app.hl7.ingester.recover(channelContext(DEFAULT_TENANT, { remoteAddress: 'recovery' }));
    assert.equal(n, 2);
    for (const id of ids) assert.equal((await h.app.hl7.store.get(DEFAULT_TENANT, id))?.status, 'processed');
    assert.equal(await h.count('Provenance'), 2);
    assert.equal(await h.app.hl7.ingester.recover(channelContext(DEFAULT_TENANT, { remoteAddress: 'recovery' })), 0);
    assert.equal(await h.count('Provenance'), 2, 'a second recovery applies nothing again');
  });

  it('are finished by the sender resending the same message, which then gets AA; a further resend the same ACK', async () => {
    const id = await storedOnly('REC-3', 'P-REC-3');
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const first = await c.send(variant(A08, 'REC-3', 'P-REC-3'));
    const second = await c.send(variant(A08, 'REC-3', 'P-REC-3'));
    c.close();
    assert.equal(msa(first).code, 'AA');
    assert.equal(second, first);
    assert.equal((await h.app.hl7.store.get(DEFAULT_TENANT, id))?.status, 'processed');
    assert.equal(await h.count('Provenance'), 3);
  });

  it('a replay racing a resend applies the message once', async () => {
    const id = await storedOnly('REC-4', 'P-REC-4');
    const ctx = channelContext(DEFAULT_TENANT, { remoteAddress: 'test' });
    const [a, b] = await Promise.all([
      h.app.hl7.ingester.replay(ctx, id),
      h.app.hl7.ingester.ingest(Buffer.from(variant(A08, 'REC-4', 'P-REC-4')), { channel: 'mllp', ctx }),
    ]);
    assert.equal(a.status, 'processed');
    assert.equal(b.status, 'processed');
    assert.equal(await h.count('Provenance'), 4);
  });
});
