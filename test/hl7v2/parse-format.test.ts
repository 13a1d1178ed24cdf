import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMessage, serializeMessage } from '../../src/hl7v2/index.js';

const MSH = 'MSH|^~\\&|APP|FAC|REC|RFAC|20260101120000||ADT^A01^ADT_A01|CTRL1|P|2.5.1';
const BODY = ['EVN|A01|20260101', 'PID|1||123^^^HOSP^MR~456^^^SSA^SS||Doe^John', 'PV1|1|I', 'ZPI|custom^value&sub|x'];

for (const [label, term] of [
  ['CR', '\r'],
  ['LF', '\n'],
  ['CRLF', '\r\n'],
] as const) {
  test(`segment terminator ${label} is detected, with and without a trailing one`, () => {
    for (const trailing of [true, false]) {
      const text = [MSH, ...BODY].join(term) + (trailing ? term : '');
      const msg = parseMessage(Buffer.from(text, 'latin1'));
      assert.equal(msg.segmentTerminator, term);
      assert.equal(msg.segments.length, 5);
      assert.deepEqual(msg.segments.map((s) => s.name), ['MSH', 'EVN', 'PID', 'PV1', 'ZPI']);
      assert.equal(msg.get('PID-3[2].4'), 'SSA');
      assert.equal(serializeMessage(msg).toString('latin1'), text);
    }
  });
}

test('blank lines and mixed terminators are tolerated and kept', () => {
  const text = `${MSH}\r\n${BODY[0]}\r${BODY[1]}\n\n${BODY[2]}\r\n\r\n`;
  const msg = parseMessage(text);
  assert.equal(msg.segmentTerminator, '\r\n');
  assert.equal(msg.segments.length, 4);
  assert.equal(serializeMessage(msg).toString('latin1'), text);
});

test('Z-segments are ordinary segments', () => {
  const msg = parseMessage([MSH, ...BODY].join('\r'));
  assert.equal(msg.get('ZPI-1.2'), 'value');
  assert.equal(msg.get('ZPI-1.2.2'), 'sub');
  assert.equal(msg.get('ZPI-2'), 'x');
  assert.equal(msg.segmentsNamed('ZPI')[0]!.fieldCount, 2);
});

test('custom encoding characters from MSH-1 and MSH-2', () => {
  const text = 'MSH!@*%$!APP!FAC!!!20260101!!ADT@A08!C2!P!2.3\rPID!1!!A1@@@H1*B2@@@H2!!Do%F%e@Jo$hn\r';
  const msg = parseMessage(text);
  assert.deepEqual(msg.delimiters, { field: '!', component: '@', repetition: '*', escape: '%', subcomponent: '$' });
  assert.equal(msg.get('MSH-1'), '!');
  assert.equal(msg.get('MSH-2'), '@*%$');
  assert.equal(msg.type.trigger, 'A08');
  assert.equal(msg.get('PID-3[2].4'), 'H2');
  assert.equal(msg.get('PID-5'), 'Do!e');
  assert.equal(msg.get('PID-5.2.2'), 'hn');
  assert.equal(serializeMessage(msg).toString('latin1'), text);
});

test('v2.7 truncation character in MSH-2', () => {
  const msg = parseMessage('MSH|^~\\&#|A|B|C|D|20260101||ADT^A01|1|P|2.7\rPID|1||12\\P\\3#\r');
  assert.equal(msg.delimiters.truncation, '#');
  assert.equal(msg.get('MSH-2'), '^~\\&#');
  assert.equal(msg.get('PID-3'), '12#3#');
});

test('versions 2.2 to 2.8 parse alike', () => {
  for (const v of ['2.2', '2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.9', '']) {
    const msg = parseMessage(`MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|${v}\rPID|1||7\r`);
    assert.equal(msg.version, v);
    assert.equal(msg.get('PID-3'), '7');
  }
  const old = parseMessage('MSH|^~\\&|A|B|C|D|199901011200||ADT^A04|1|P|2.2\r');
  assert.deepEqual(old.type, { code: 'ADT', trigger: 'A04' });
});

test('8859/1 bytes are decoded as latin1 and written back the same', () => {
  const text = 'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5|||||DEU|8859/1\rPID|1||7||Müller^Jürgen^Ø\r';
  const bytes = Buffer.from(text, 'latin1');
  const msg = parseMessage(bytes);
  assert.equal(msg.charset, '8859/1');
  assert.equal(msg.get('PID-5'), 'Müller');
  assert.equal(msg.get('PID-5.3'), 'Ø');
  assert.ok(serializeMessage(msg).equals(bytes));
});

test('UNICODE UTF-8 bytes are decoded as UTF-8 and written back the same', () => {
  const text = 'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5|||||CHN|UNICODE UTF-8\rPID|1||7||王^小明~Łukasz^Żółć\rNTE|1||caf\\XC3A9\\ ✓\r';
  const bytes = Buffer.from(text, 'utf8');
  const msg = parseMessage(bytes);
  assert.equal(msg.charset, 'UNICODE UTF-8');
  assert.equal(msg.get('PID-5'), '王');
  assert.equal(msg.get('PID-5[2].2'), 'Żółć');
  assert.equal(msg.get('NTE-3'), 'café ✓');
  assert.ok(serializeMessage(msg).equals(bytes));
  assert.ok(serializeMessage(parseMessage(text)).equals(bytes));
});

test('undeclared charset: valid UTF-8 is read as UTF-8, other 8-bit bytes as latin1', () => {
  const utf8 = Buffer.from('MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||7||Ünal\r', 'utf8');
  const m1 = parseMessage(utf8);
  assert.equal(m1.charset, 'ASCII');
  assert.equal(m1.get('PID-5'), 'Ünal');
  assert.ok(serializeMessage(m1).equals(utf8));
  const latin = Buffer.from('MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||7||Ünal\r', 'latin1');
  const m2 = parseMessage(latin);
  assert.equal(m2.get('PID-5'), 'Ünal');
  assert.ok(serializeMessage(m2).equals(latin));
});

test('MSH-18 with several repetitions uses the first as the default set', () => {
  const msg = parseMessage('MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1~ISO IR87\r');
  assert.equal(msg.charset, '8859/1');
});

test('a string without MSH-18 holding text beyond latin1 is written as UTF-8', () => {
  const text = 'MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||7||王\r';
  const msg = parseMessage(text);
  assert.equal(msg.get('PID-5'), '王');
  assert.ok(serializeMessage(msg).equals(Buffer.from(text, 'utf8')));
});
