import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectMllp, encodeFrame } from '../../src/hl7v2/mllp/index.js';
import { msa, sample, startHl7Harness, testConverter, variant, type Hl7Harness } from './mllp-support.js';

const A01 = sample('ADT-A01-01.hl7');
const ORU = sample('ORU-R01-01.hl7');

async function rows(h: Hl7Harness, controlId: string) {
  const r = await h.testDb.db.query<{ status: string; ack_code: string; error_code: string | null; id: string }>(
    'SELECT id, status, ack_code, error_code FROM hl7v2_message WHERE control_id = $1 ORDER BY received_at',
    [controlId],
  );
  return r.rows;
}

describe('MLLP listener over real TCP', () => {
  let h: Hl7Harness;
  before(async () => {
    h = await startHl7Harness(testConverter(), { HAVEN_MLLP_MAX_MESSAGE_BYTES: '20000', HAVEN_MLLP_IDLE_TIMEOUT_MS: '400' });
  });
  after(async () => h.close());

  it('answers AA only after the message and its FHIR result are stored', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = await c.send(variant(A01, 'AA-1', 'P-AA-1'));
    c.close();
    const m = msa(ack);
    assert.equal(m.code, 'AA');
    assert.equal(m.controlId, 'AA-1');
    const header = ack.split('\r')[0]!.split('|');
    assert.equal(header[2], 'EHRApp^1.Edu^ISO', 'sender and receiver are swapped (MSH-3 = original MSH-5)');
    assert.equal(header[4], 'ADTApp');
    assert.equal(header[8], 'ACK^A01^ACK');
    assert.notEqual(header[9], 'AA-1', 'the ACK has its own control id');
    assert.equal(header[11], '2.8', 'same version as the original');
    const [row] = await rows(h, 'AA-1');
    assert.equal(row?.status, 'processed');
    assert.equal(row?.ack_code, 'AA');
    assert.equal(await h.count('Provenance'), 1);
    assert.equal(await h.count('Patient'), 1);
    // The body is stored encrypted: the patient id is not in the bytes at rest.
    const body = await h.testDb.db.query<{ body: Buffer }>('SELECT body FROM hl7v2_message WHERE id = $1', [row!.id]);
    assert.equal(body.rows[0]!.body.includes(Buffer.from('P-AA-1')), false);
    assert.deepEqual(await h.app.hl7.store.raw('default', row!.id), Buffer.from(variant(A01, 'AA-1', 'P-AA-1'), 'utf8'), 'stored byte for byte');
  });

  it('answers a duplicate MSH-10 from the same sender with the original ACK and does not reprocess it', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const msg = variant(ORU, 'DUP-1', 'P-DUP-1');
    const first = await c.send(msg);
    const provenance = await h.count('Provenance');
    const second = await c.send(msg);
    c.close();
    assert.equal(msa(first).code, 'AA');
    assert.equal(second, first);
    assert.equal(await h.count('Provenance'), provenance);
    assert.equal((await rows(h, 'DUP-1')).length, 1);
    assert.equal(h.app.hl7.metrics.value('duplicates', 'mllp'), 1);
  });

  it('answers AE with the reason when conversion fails, and keeps the message as failed (dead letter)', async () => {
    const noPid = variant(A01, 'AE-1', 'x').split('\r').filter((l) => !l.startsWith('PID')).join('\r');
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = await c.send(noPid);
    c.close();
    const m = msa(ack);
    assert.equal(m.code, 'AE');
    assert.match(m.text, /HL7_CONVERSION_FAILED/);
    assert.match(ack, /\rERR\|\|\|207\^Application internal error\^HL70357\|E/);
    const [row] = await rows(h, 'AE-1');
    assert.equal(row?.status, 'failed');
    assert.equal(row?.error_code, 'HL7_CONVERSION_FAILED');
  });

  it('answers AR for a malformed message and keeps it as rejected', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = await c.send('MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|BAD-1|P|2.5\rP\x01D|bad segment id');
    c.close();
    const m = msa(ack);
    assert.equal(m.code, 'AR');
    assert.equal(m.controlId, 'BAD-1');
    assert.match(m.text, /HL7_MALFORMED/);
    const r = await h.testDb.db.query<{ status: string }>("SELECT status FROM hl7v2_message WHERE control_id = 'BAD-1'");
    assert.deepEqual(r.rows.map((x) => x.status), ['rejected']);
  });

  it('skips bytes between frames and handles a frame split over many writes', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const frame = encodeFrame(variant(A01, 'SPLIT-1', 'P-SPLIT-1'));
    c.write(Buffer.from('\r\nnoise'));
    for (let i = 0; i < frame.length; i += 97) c.write(frame.subarray(i, i + 97));
    const ack = await c.nextAck();
    c.close();
    assert.equal(msa(ack).code, 'AA');
    assert.equal(msa(ack).controlId, 'SPLIT-1');
  });

  it('refuses a message over the size limit with AR and closes the connection', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const big = `${variant(A01, 'BIG-1', 'P-BIG')}\rNTE|1||${'x'.repeat(30000)}`;
    const ack = await c.send(big);
    assert.equal(msa(ack).code, 'AR');
    assert.equal(msa(ack).controlId, 'BIG-1');
    assert.match(msa(ack).text, /too large/);
    await c.closed;
    assert.equal((await rows(h, 'BIG-1')).length, 0);
  });

  it('closes an idle connection after the idle timeout', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const started = Date.now();
    await c.closed;
    const waited = Date.now() - started;
    assert.ok(waited >= 350 && waited < 5000, `closed after ${waited} ms`);
  });

  it('enhanced mode: a commit ACK (CA) once stored, processing follows; NE/AL answers with the application ACK', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ca = await c.send(variant(A01, 'ENH-1', 'P-ENH-1', { msh15: 'AL', msh16: 'NE' }));
    assert.equal(msa(ca).code, 'CA');
    const aa = await c.send(variant(A01, 'ENH-2', 'P-ENH-2', { msh15: 'NE', msh16: 'AL' }));
    c.close();
    assert.equal(msa(aa).code, 'AA');
    // Per-connection order: ENH-1 was processed before ENH-2 was taken.
    const [one] = await rows(h, 'ENH-1');
    assert.equal(one?.status, 'processed');
    assert.equal(one?.ack_code, 'AA');
  });

  it('keeps many concurrent connections independent', async () => {
    const before = await h.count('Provenance');
    const clients = await Promise.all(Array.from({ length: 8 }, () => connectMllp({ host: '127.0.0.1', port: h.mllpPort })));
    const acks = await Promise.all(
      clients.map(async (c, i) => {
        const out: string[] = [];
        for (let j = 0; j < 5; j++) out.push(msa(await c.send(variant(j % 2 ? ORU : A01, `CC-${i}-${j}`, `P-CC-${i}`))).code);
        c.close();
        return out;
      }),
    );
    assert.deepEqual(new Set(acks.flat()), new Set(['AA']));
    assert.equal(await h.count('Provenance'), before + 40);
  });
});
