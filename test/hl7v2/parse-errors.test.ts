import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HavenError } from '../../src/kernel/errors.js';
import { parseMessage, serializeMessage } from '../../src/hl7v2/index.js';
import type { Hl7Message } from '../../src/hl7v2/index.js';

const MSH = 'MSH|^~\\&|A|B|C|D|20260101||ADT^A01|1|P|2.5';

function rejects(input: string | Buffer, code: string, reason: RegExp): void {
  assert.throws(
    () => parseMessage(input),
    (err: unknown) => {
      assert.ok(err instanceof HavenError, `not a HavenError: ${String(err)}`);
      assert.equal(err.code, code);
      assert.match(err.message, reason);
      return true;
    },
  );
}

test('malformed messages are rejected with an actionable reason', () => {
  rejects('', 'HL7_MALFORMED', /empty/);
  rejects('\rMSH|^~\\&|A', 'HL7_MALFORMED', /empty or starts with a blank line/);
  rejects('PID|1||7\r', 'HL7_MALFORMED', /^Message does not start with MSH \(found 'PID'\)$/);
  rejects('BHS|^~\\&\rMSH|^~\\&|A\r', 'HL7_MALFORMED', /is a batch \(starts with BHS\)/);
  rejects('MSH', 'HL7_MALFORMED', /ends before its field separator/);
  rejects('MSHA^~\\&|', 'HL7_MALFORMED', /field separator \(MSH-1\)/);
  rejects('MSH|^~|A', 'HL7_MALFORMED', /MSH-2 \(encoding characters\).*found 2/);
  rejects('MSH|^~\\&#@|A', 'HL7_MALFORMED', /found 6/);
  rejects('MSH|^^\\&|A', 'HL7_MALFORMED', /uses '\^' for two different delimiters/);
  rejects('MSH|^~\\a|A', 'HL7_MALFORMED', /contains 'a'/);
  rejects('MSH|^~|&|A', 'HL7_MALFORMED', /found 2/);
  rejects(`${MSH}\rPID|1\rP1d|2\r`, 'HL7_MALFORMED', /^Segment 3 has an invalid id 'P1d'/);
  rejects(`${MSH}\rPI\r`, 'HL7_MALFORMED', /^Segment 2 has an invalid id 'PI'/);
  rejects(`${MSH}\rPIDX|1\r`, 'HL7_MALFORMED', /^Segment 2 \(PID\) is not followed by the field separator '\|'/);
  rejects(`${MSH}\r\tPID|1\r`, 'HL7_MALFORMED', /^Segment 2 has an invalid id '\\u\{9\}PI'/);
  rejects(`${MSH}\rPID|1\r${MSH}\r`, 'HL7_MALFORMED', /^Segment 3 is a second MSH/);
  rejects('MSH|^~\\&|A|B|C|D|1||^A01|1|P|2.5\r', 'HL7_MALFORMED', /MSH-9 \(message type\) is empty/);
});

test('unknown character sets are refused as unsupported', () => {
  rejects(`${MSH}||||||ISO IR87\r`, 'HL7_CHARSET_UNSUPPORTED', /MSH-18 declares the character set "ISO IR87".*UNICODE UTF-8/);
  rejects(Buffer.from(`${MSH}||||||UNICODE UTF-16\r`), 'HL7_CHARSET_UNSUPPORTED', /UNICODE UTF-16/);
  try {
    parseMessage(`${MSH}||||||EBCDIC\r`);
  } catch (err) {
    assert.ok(err instanceof HavenError);
    assert.equal(err.category, 'unsupported');
  }
});

test('bytes that contradict the declared charset are malformed', () => {
  const bad = Buffer.concat([Buffer.from(`${MSH}||||||UNICODE UTF-8\rPID|1||`), Buffer.from([0x41, 0xc3, 0x28]), Buffer.from('\r')]);
  rejects(bad, 'HL7_MALFORMED', new RegExp(`not UTF-8 \\(first at byte ${bad.indexOf(0xc3)}\\)`));
  const bomLatin = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${MSH}||||||8859/1\r`)]);
  rejects(bomLatin, 'HL7_MALFORMED', /byte order mark but MSH-18 declares "8859\/1"/);
});

test('reasons never quote field values', () => {
  const secret = 'SECRETNAME';
  for (const input of [`${MSH}\rPID|${secret}\r${secret}|x\r`, `MSH|^~\\&|${secret}|1||^A01\r`, `${MSH}||||||Doe, ${secret}\r`]) {
    try {
      parseMessage(input);
      assert.fail('should have thrown');
    } catch (err) {
      assert.ok(err instanceof HavenError);
      assert.ok(!err.message.includes('SECRETNAME'), err.message);
    }
  }
});

test('invalid paths throw HL7_PATH_INVALID', () => {
  const msg = parseMessage(`${MSH}\rPID|1\r`);
  for (const path of ['PID', 'PID-', 'pid-3', 'PID-0', 'PID-3[0]', 'PID-3.0', 'PID-3..1', '3.1.2.4', 'PID-3.1.2.4', 'PID[0]-1', '']) {
    assert.throws(() => msg.get(path), (err: unknown) => err instanceof HavenError && err.code === 'HL7_PATH_INVALID', path);
  }
  assert.throws(() => msg.get('3'), (err: unknown) => err instanceof HavenError && err.code === 'HL7_PATH_INVALID', 'segment-level path on a message');
  assert.throws(() => msg.segments[1]!.get('x'), (err: unknown) => err instanceof HavenError && err.code === 'HL7_PATH_INVALID');
});

test('serializing text the charset cannot hold throws HL7_UNENCODABLE', () => {
  const parsed = parseMessage(`${MSH}||||||8859/1\rPID|1\r`);
  const foreign: Hl7Message = { ...parsed, segments: [...parsed.segments, { ...parsed.segments[1]!, raw: 'NTE|1||王' }], get: parsed.get, segmentsNamed: parsed.segmentsNamed };
  assert.throws(() => serializeMessage(foreign), (err: unknown) => err instanceof HavenError && err.code === 'HL7_UNENCODABLE' && /U\+738B/.test(err.message));
});
