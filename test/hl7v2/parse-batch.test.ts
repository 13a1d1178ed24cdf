import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HavenError } from '../../src/kernel/errors.js';
import { parseBatch, serializeBatch, serializeMessage } from '../../src/hl7v2/index.js';
import { loadSamples } from './samples.js';

const msg = (id: string, extra = ''): string => `MSH|^~\\&|A|B|C|D|20260101||ADT^A01|${id}|P|2.5${extra}\rPID|1||${id}\r`;

function rejects(input: string | Buffer, reason: RegExp): void {
  assert.throws(
    () => parseBatch(input),
    (err: unknown) => err instanceof HavenError && err.code === 'HL7_MALFORMED' && reason.test(err.message),
  );
}

test('a full batch file with FHS/BHS/BTS/FTS and trailer counts', () => {
  const text = `FHS|^~\\&|SEND|FAC|||20260101||file1\rBHS|^~\\&|SEND|FAC\r${msg('1')}${msg('2')}BTS|2\rBHS|^~\\&\r${msg('3')}BTS|1\rFTS|2\r`;
  const batch = parseBatch(text);
  assert.equal(batch.fileHeader?.get('3'), 'SEND');
  assert.equal(batch.fileHeader?.get('9'), 'file1');
  assert.equal(batch.batches.length, 2);
  assert.deepEqual(batch.batches.map((b) => b.messages.map((m) => m.controlId)), [['1', '2'], ['3']]);
  assert.deepEqual(batch.messages.map((m) => m.get('PID-3')), ['1', '2', '3']);
  assert.equal(batch.batches[0]!.header?.get('4'), 'FAC');
  assert.equal(batch.batches[1]!.trailer?.get('1'), '1');
  assert.equal(batch.fileTrailer?.get('1'), '2');
  assert.equal(serializeMessage(batch.messages[1]!).toString(), msg('2'));
  assert.equal(serializeBatch(batch).toString('latin1'), text);
});

test('batch without file envelope, without trailer counts, and bare concatenated messages', () => {
  assert.equal(parseBatch(`BHS|^~\\&\r${msg('1')}${msg('2')}BTS\r`).messages.length, 2);
  assert.equal(parseBatch(`BHS|^~\\&\r${msg('1')}BTS|\r`).messages.length, 1);
  const bare = parseBatch(`${msg('1')}${msg('2')}${msg('3')}`);
  assert.equal(bare.batches.length, 1);
  assert.equal(bare.messages.length, 3);
  assert.equal(parseBatch('FHS|^~\\&\rBHS|^~\\&\rBTS|0\rFTS|1\r').messages.length, 0);
});

test('a batch of the 57 samples, from bytes, round-trips message by message', () => {
  const samples = loadSamples();
  const strip = (b: Buffer): Buffer => (b[0] === 0xef ? b.subarray(3) : b);
  const body = samples.map((s) => {
    const b = strip(s.bytes);
    return b[b.length - 1] === 0x0a ? b : Buffer.concat([b, Buffer.from('\n')]);
  });
  const file = Buffer.concat([Buffer.from('FHS|^~\\&\nBHS|^~\\&\n'), ...body, Buffer.from(`BTS|${samples.length}\nFTS|1\n`)]);
  const batch = parseBatch(file);
  assert.equal(batch.messages.length, 57);
  batch.messages.forEach((m, i) => assert.ok(serializeMessage(m).equals(body[i]!), samples[i]!.name));
  assert.ok(serializeBatch(batch).equals(file), 'the batch file round-trips');
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), file]);
  const again = parseBatch(withBom);
  assert.equal(again.byteOrderMark, true);
  assert.ok(serializeBatch(again).equals(withBom));
});

test('each message in a batch is decoded with its own MSH-18', () => {
  const latin = Buffer.from(msg('L', '||||||8859/1').replace('|L\r', '|Zoë\r'), 'latin1');
  const utf8 = Buffer.from(msg('U', '||||||UNICODE UTF-8').replace('|U\r', '|Zoë\r'), 'utf8');
  const batch = parseBatch(Buffer.concat([Buffer.from('BHS|^~\\&\r'), latin, utf8, Buffer.from('BTS|2\r')]));
  assert.deepEqual(batch.messages.map((m) => m.get('PID-3')), ['Zoë', 'Zoë']);
  assert.deepEqual(batch.messages.map((m) => m.charset), ['8859/1', 'UNICODE UTF-8']);
  assert.ok(serializeMessage(batch.messages[0]!).equals(latin));
  assert.ok(serializeMessage(batch.messages[1]!).equals(utf8));
});

test('trailer counts that disagree and misplaced segments are malformed', () => {
  rejects(`BHS|^~\\&\r${msg('1')}BTS|2\r`, /^BTS-1 \(batch message count\) says 2 messages, but the batch holds 1$/);
  rejects(`FHS|^~\\&\rBHS|^~\\&\r${msg('1')}BTS|1\rFTS|3\r`, /FTS-1 \(file batch count\) says 3 batches, but the file holds 1/);
  rejects(`BHS|^~\\&\r${msg('1')}BTS|x\r`, /BTS-1 \(batch message count\) is not a number/);
  rejects(`BHS|^~\\&\rPID|1\r`, /Segment 2 \(PID\) is outside a message/);
  rejects(`BHS|^~\\&\rFHS|^~\\&\r`, /Segment 2 is an FHS/);
  rejects(`${msg('1')}BTS|1\rBTS|1\r`, /Segment 4 is a BTS without a batch/);
  rejects(`FHS|^~\\&\rFTS|0\r${msg('1')}`, /Segment 3 \(MSH\) follows the file trailer FTS/);
  rejects('PID|1\r', /starts with FHS, BHS or MSH/);
  rejects('', /empty/);
  rejects(`BHS|^~\\&\r${msg('1')}MSH|^~\\&|A\rBTS|2\r`, /^Message 2 of the batch \(segment 4 of the file\): MSH-9 \(message type\) is empty/);
});
