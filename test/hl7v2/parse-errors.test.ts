import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
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
  rejects(`${MSH}\rPID|1||12\u00003^^^H\r`, 'HL7_MALFORMED', /NUL character \(0x00\) at offset 52/);
  rejects(Buffer.from(`${MSH}\rPID|1||12\u00003^^^H\r`, 'latin1'), 'HL7_MALFORMED', /NUL character/);
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

/** The offset by definition: the first lead byte whose sequence Node's own validator refuses. */
function firstBadByDefinition(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const len = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4 : 0;
    if (len === 0 || !isUtf8(bytes.subarray(i, i + len))) return i;
    i += len;
  }
  return i;
}

test('the reported offset of bad UTF-8 is the first invalid sequence, for every kind of lead and continuation byte', () => {
  const head = Buffer.from(`${MSH}||||||UNICODE UTF-8\rPID|1||`);
  // Valid sequences of each length, the edges RFC 3629 narrows (overlong, surrogates, above U+10FFFF), and junk.
  const pieces = [[0x41], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xe0, 0x9f, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80],
    [0xf0, 0x8f, 0x80, 0x80], [0xc0, 0x80], [0xc3], [0x80], [0xff], [0xe2, 0x82], [0xf5, 0x80, 0x80, 0x80]];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  let checked = 0;
  for (let n = 0; n < 400; n++) {
    const field = Buffer.from(Array.from({ length: 1 + (next() % 12) }, () => pieces[next() % pieces.length]!).flat());
    const bytes = Buffer.concat([head, field, Buffer.from('\r')]);
    if (isUtf8(bytes)) continue;
    rejects(bytes, 'HL7_MALFORMED', new RegExp(`not UTF-8 \\(first at byte ${firstBadByDefinition(bytes)}\\)`));
    checked++;
  }
  assert.ok(checked > 200, `only ${checked} invalid cases generated`);
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
