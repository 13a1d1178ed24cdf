import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HavenError } from '../../src/kernel/errors.js';
import { buildMessage, parseMessage, serializeMessage } from '../../src/hl7v2/index.js';

const received = parseMessage('MSH|^~\\&|LAB|HOSP|HAVEN|HAVEN|20260101||ORU^R01^ORU_R01|MSG-7|P|2.5.1|||AL|NE||UNICODE UTF-8\rPID|1\r');

test('buildMessage makes an ACK that parses back and reads by path', () => {
  const ack = buildMessage(
    [
      ['MSH', { 3: 'HAVEN', 4: 'HAVEN', 5: received.get('MSH-3'), 6: received.get('MSH-4'), 7: '20260101120000', 9: ['ACK', 'R01', 'ACK'], 10: 'ACK-1', 11: 'P', 12: '2.5.1' }],
      ['MSA', { 1: 'AE', 2: received.controlId, 3: 'PID-3 | missing ^ here' }],
      ['ERR', { 3: { repeat: ['101', ['102', ['a', 'b&c']]] }, 8: 'line1\nline2' }],
    ],
    { delimiters: received.delimiters, charset: received.charset },
  );
  assert.deepEqual(ack.type, { code: 'ACK', trigger: 'R01', structure: 'ACK' });
  assert.equal(ack.controlId, 'ACK-1');
  assert.equal(ack.charset, 'UNICODE UTF-8');
  assert.equal(ack.get('MSH-18'), 'UNICODE UTF-8');
  assert.equal(ack.get('MSA-2'), 'MSG-7');
  assert.equal(ack.get('MSA-3'), 'PID-3 | missing ^ here');
  assert.equal(ack.get('ERR-3[2].2.2'), 'b&c');
  assert.equal(ack.get('ERR-8'), 'line1\nline2');
  assert.equal(ack.segmentTerminator, '\r');
  const text = serializeMessage(ack).toString('utf8');
  assert.equal(
    text,
    'MSH|^~\\&|HAVEN|HAVEN|LAB|HOSP|20260101120000||ACK^R01^ACK|ACK-1|P|2.5.1||||||UNICODE UTF-8\r' +
      'MSA|AE|MSG-7|PID-3 \\F\\ missing \\S\\ here\r' +
      'ERR|||101~102^a&b\\T\\c|||||line1\\.br\\line2\r',
  );
  assert.ok(serializeMessage(parseMessage(serializeMessage(ack))).equals(serializeMessage(ack)));
});

test('buildMessage defaults: standard delimiters, ASCII, CR; custom terminator', () => {
  const m = buildMessage([['MSH', { 9: ['ADT', 'A01'], 10: '1', 12: '2.5' }], ['PID', {}], ['ZXX', { 2: 'x' }]]);
  assert.equal(serializeMessage(m).toString('latin1'), 'MSH|^~\\&|||||||ADT^A01|1||2.5\rPID\rZXX||x\r');
  assert.equal(m.charset, 'ASCII');
  const lf = buildMessage([['MSH', { 9: 'ACK', 10: '2' }]], { segmentTerminator: '\r\n' });
  assert.equal(serializeMessage(lf).toString('latin1'), 'MSH|^~\\&|||||||ACK|2\r\n');
});

test('buildMessage refuses what parsing would refuse', () => {
  assert.throws(() => buildMessage([['MSH', { 10: '1' }]]), (e: unknown) => e instanceof HavenError && e.code === 'HL7_MALFORMED');
  assert.throws(() => buildMessage([['MSH', { 9: 'ACK' }], ['pid', { 1: 'x' }]]), (e: unknown) => e instanceof HavenError && /Segment 2/.test(e.message));
  const latin = buildMessage([['MSH', { 9: 'ACK' }], ['NTE', { 3: '王' }]], { charset: '8859/1' });
  assert.throws(() => serializeMessage(latin), (e: unknown) => e instanceof HavenError && e.code === 'HL7_UNENCODABLE');
});
