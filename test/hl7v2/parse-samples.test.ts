import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, serializeMessage } from '../../src/hl7v2/index.js';
import type { Hl7Message } from '../../src/hl7v2/index.js';
import { loadSamples } from './samples.js';

const samples = loadSamples();
const byName = new Map(samples.map((s) => [s.name, s.bytes]));

function sample(name: string): Hl7Message {
  const bytes = byName.get(name);
  assert.ok(bytes, `sample ${name} missing`);
  return parseMessage(bytes);
}

/** Independent reading of a field: plain string splitting, no escapes. */
function naiveField(bytes: Buffer, segment: string, field: number): string | undefined {
  const line = bytes
    .toString('utf8')
    .split(/\r\n|\r|\n/)
    .find((l) => l.replace(/^\uFEFF/, '').startsWith(`${segment}|`));
  return line?.split('|')[segment === 'MSH' ? field - 1 : field];
}

test('all 57 sample messages are present', () => {
  assert.equal(samples.length, 57);
});

test('every sample parses and serializes back to the same bytes', () => {
  for (const { name, bytes } of samples) {
    const msg = parseMessage(bytes);
    assert.ok(serializeMessage(msg).equals(bytes), `${name} does not round-trip`);
    assert.ok(serializeMessage(parseMessage(bytes.toString('utf8'))).equals(bytes), `${name} (as string) does not round-trip`);
  }
});

test('every sample exposes its MSH header and segments', () => {
  for (const { name, bytes } of samples) {
    const msg = parseMessage(bytes);
    const [code, trigger] = name.split('-');
    assert.equal(msg.type.code, code, name);
    assert.equal(msg.type.trigger, trigger, name);
    assert.equal(msg.controlId, naiveField(bytes, 'MSH', 10), name);
    assert.equal(msg.version, naiveField(bytes, 'MSH', 12), name);
    assert.equal(msg.segmentTerminator, '\n', name);
    const lines = bytes.toString('utf8').split('\n').filter((l) => l !== '');
    assert.equal(msg.segments.length, lines.length, name);
    msg.segments.forEach((s, i) => assert.equal(s.raw, lines[i]!.replace(/^\uFEFF/, ''), `${name} segment ${i + 1}`));
    assert.equal(msg.segments[0]!.name, 'MSH');
  }
});

test('ADT^A01 values by path', () => {
  const msg = sample('ADT-A01-01.hl7');
  assert.deepEqual(msg.type, { code: 'ADT', trigger: 'A01', structure: 'ADT_A01' });
  assert.equal(msg.charset, 'ASCII');
  assert.equal(msg.get('MSH-1'), '|');
  assert.equal(msg.get('MSH-2'), '^~\\&');
  assert.equal(msg.get('MSH-4.2'), '2.16.840.1.122848.1.30');
  assert.equal(msg.get('PID-3'), 'PATID1234');
  assert.equal(msg.get('PID-3.4'), 'test1');
  assert.equal(msg.get('PID-3.4.2'), '2.16.1');
  assert.equal(msg.get('PID-3[2].1'), '123456789');
  assert.equal(msg.get('PID-3[2].5'), 'SS');
  assert.equal(msg.get('PID-3[3].1'), undefined);
  assert.equal(msg.get('PID-5.1.5'), 'Aniston');
  assert.equal(msg.get('PID-5[2].3'), 'stanley');
  assert.equal(msg.get('PID-7'), '198808181126+0215');
  assert.equal(msg.get('PID-99'), undefined);
  assert.equal(msg.get('PV1-14'), 'NHS Provider-General (inc.A&E-this Hosp)');
  assert.equal(msg.segmentsNamed('ROL').length, 3);
  assert.equal(msg.get('ROL[2]-4.2'), 'Smith');
  assert.equal(msg.get('ROL[9]-4.2'), undefined);
  assert.equal(msg.get('ZZZ-1'), undefined);
  const pid = msg.segmentsNamed('PID')[0]!;
  assert.equal(pid.get('3[2].4'), 'USSSA');
  assert.equal(pid.repetitions(3), 2);
  assert.equal(pid.repetitions(2), 1);
  assert.equal(pid.repetitions(4), 1);
  assert.equal(pid.fieldCount, naiveLineFieldCount(byName.get('ADT-A01-01.hl7')!, 'PID'));
  const msh = msg.segments[0]!;
  assert.equal(msh.fieldCount, naiveLineFieldCount(byName.get('ADT-A01-01.hl7')!, 'MSH') + 1, 'MSH-1 counts');
  assert.equal(msh.repetitions(1), 1);
  assert.equal(msh.repetitions(2), 1);
  assert.equal(msh.get('9.2'), 'A01');
  assert.equal(msh.get('MSH-9.3'), 'ADT_A01');
  assert.equal(msh.get('PID-3'), undefined, 'a message path of another segment');
  const copy = msg.segmentsNamed('ROL');
  copy.pop();
  assert.equal(msg.segmentsNamed('ROL').length, 3, 'segmentsNamed returns a copy');
});

function naiveLineFieldCount(bytes: Buffer, segment: string): number {
  const line = bytes.toString('utf8').split('\n').find((l) => l.startsWith(`${segment}|`))!;
  return line.split('|').length - 1;
}

test('ORU^R01 observations by index', () => {
  const msg = sample('ORU-R01-01.hl7');
  assert.equal(msg.version, '2.5.1');
  const obx = msg.segmentsNamed('OBX');
  assert.equal(obx.length, 5);
  assert.equal(msg.get('OBX-3.1'), '8867-4');
  assert.equal(msg.get('OBX-5'), 'https://testurl.com');
  assert.equal(msg.get('OBX[2]-5.4'), 'Base64');
  assert.equal(msg.get('OBX[3]-3.2'), 'Bacteria identified in Stool by Culture');
  assert.equal(obx[2]!.get('5.9'), 'Salmonella species');
  assert.equal(msg.get('MSH-15'), 'AL');
  assert.equal(msg.get('MSH-16'), 'NE');
});

test('samples with a UTF-8 byte order mark declare their charset and keep the mark', () => {
  const msg = sample('VXU-V04-01.hl7');
  assert.equal(msg.segments[0]!.raw.startsWith('MSH|'), true);
  assert.equal(msg.type.code, 'VXU');
  assert.equal(msg.get('RXA-5.2'), 'TENIVAC');
  assert.equal(msg.get('RXA-17.2'), 'Sanofi Pasteur');
  const bytes = serializeMessage(msg);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
});

test('ADT^A40 merge segment', () => {
  const msg = sample('ADT-A40-01.hl7');
  assert.equal(msg.get('MRG-1'), '56789');
  assert.equal(msg.get('MRG-1.4'), 'BCBS');
  assert.equal(msg.get('MRG-1.5'), 'MR');
});
