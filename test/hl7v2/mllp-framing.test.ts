import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFrame, MllpDecoder, type FrameEvent } from '../../src/hl7v2/mllp/index.js';
import { ackModes, buildAck, sniffHeader, wanted } from '../../src/hl7v2/ingest/index.js';

const frames = (events: FrameEvent[]) => events.filter((e) => e.kind === 'frame').map((e) => (e.kind === 'frame' ? e.payload.toString('latin1') : ''));

describe('MLLP framing', () => {
  it('decodes back-to-back frames, skipping bytes between them', () => {
    const d = new MllpDecoder(1000);
    const bytes = Buffer.concat([Buffer.from('\r\nxx'), encodeFrame('MSH|a'), Buffer.from('\n'), encodeFrame('MSH|b')]);
    const events = d.push(bytes);
    assert.deepEqual(frames(events), ['MSH|a', 'MSH|b']);
    assert.deepEqual(events.filter((e) => e.kind === 'garbage').map((e) => (e.kind === 'garbage' ? e.bytes : 0)), [5]);
  });

  it('reassembles a frame split at every byte, including between FS and CR', () => {
    const d = new MllpDecoder(1000);
    const bytes = encodeFrame('MSH|^~\\&|A|B\rPID|1');
    const out: string[] = [];
    for (const b of bytes) out.push(...frames(d.push(Buffer.from([b]))));
    assert.deepEqual(out, ['MSH|^~\\&|A|B\rPID|1']);
    assert.equal(d.partial, false);
  });

  it('keeps an FS that is not followed by CR as content', () => {
    const d = new MllpDecoder(1000);
    assert.deepEqual(frames(d.push(encodeFrame('a\x1cb'))), ['a\x1cb']);
  });

  it('reports a frame over the limit while it streams in, keeping only its start', () => {
    const d = new MllpDecoder(10);
    d.push(Buffer.from('\x0bMSH|^~\\&|0123456789'));
    assert.equal(d.currentOversized, true);
    assert.equal(d.head.toString('latin1').startsWith('MSH|^~\\&|'), true);
    const events = d.push(Buffer.from('more\x1c\r'));
    assert.equal(events[0]?.kind, 'too-large');
    assert.deepEqual(frames(d.push(encodeFrame('ok'))), ['ok'], 'the next frame decodes normally');
  });
});

describe('acknowledgments', () => {
  const original = 'MSH|^~\\&|LAB|HOSP|EHR|CLINIC|20240101||ORU^R01^ORU_R01|CTRL-9|P|2.5.1|||AL|ER\rPID|1';

  it('swap sender and receiver, keep the version, escape the reason', () => {
    const ack = buildAck({ original: sniffHeader(original), code: 'AE', text: 'PID-3|missing ^ here', now: new Date('2024-01-02T03:04:05Z') });
    const [msh, msa, err] = ack.split('\r');
    assert.match(msh!, /^MSH\|\^~\\&\|EHR\|CLINIC\|LAB\|HOSP\|20240102030405\+0000\|\|ACK\^R01\^ACK\|H[\w-]{15}\|P\|2\.5\.1$/);
    assert.equal(msa, 'MSA|AE|CTRL-9|PID-3\\F\\missing \\S\\ here');
    assert.match(err!, /^ERR\|\|\|207\^Application internal error\^HL70357\|E\|\|\|\|PID-3\\F\\missing/);
  });

  it('read the acknowledgment modes of MSH-15/16', () => {
    const m = ackModes(sniffHeader(original));
    assert.deepEqual(m, { enhanced: true, accept: 'AL', application: 'ER' });
    assert.equal(wanted(m.application, true), false);
    assert.equal(wanted(m.application, false), true);
    assert.equal(ackModes(sniffHeader('MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.3')).enhanced, false);
  });
});
