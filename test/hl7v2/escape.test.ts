import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_DELIMITERS, decodeValue, escapeValue, parseMessage, serializeMessage } from '../../src/hl7v2/index.js';
import type { Delimiters } from '../../src/hl7v2/index.js';

const d = DEFAULT_DELIMITERS;
const decode = (v: string, delims: Delimiters = d, enc: 'latin1' | 'utf8' = 'latin1'): string => decodeValue(v, delims, enc);

test('delimiter escapes decode to the delimiters', () => {
  assert.equal(decode('a\\F\\b'), 'a|b');
  assert.equal(decode('a\\S\\b'), 'a^b');
  assert.equal(decode('a\\T\\b'), 'a&b');
  assert.equal(decode('a\\R\\b'), 'a~b');
  assert.equal(decode('a\\E\\b'), 'a\\b');
  assert.equal(decode('\\F\\\\S\\\\T\\\\R\\\\E\\'), '|^&~\\');
  assert.equal(decode('no escapes'), 'no escapes');
});

test('truncation escape \\P\\ only with a declared truncation character', () => {
  assert.equal(decode('a\\P\\b', { ...d, truncation: '#' }), 'a#b');
  assert.equal(decode('a\\P\\b'), 'a\\P\\b');
});

test('hex escapes are bytes in the message charset', () => {
  assert.equal(decode('\\X41424344\\'), 'ABCD');
  assert.equal(decode('caf\\XE9\\', d, 'latin1'), 'café');
  assert.equal(decode('caf\\XC3A9\\', d, 'utf8'), 'café');
  assert.equal(decode('\\X0D0A\\'), '\r\n');
  assert.equal(decode('\\X0D0A\\', d, 'utf8'), '\r\n');
  assert.equal(decode('\\XFF\\', d, 'utf8'), '\uFFFD', 'a lone high byte is not UTF-8');
  assert.equal(decode('\\XE282AC\\', d, 'utf8'), '€');
  assert.equal(decode('\\Xabc\\'), '\\Xabc\\', 'odd hex digits stay literal');
  assert.equal(decode('\\XZZ\\'), '\\XZZ\\');
  assert.equal(decode('\\X\\'), '\\X\\');
  // A NUL is no text and could not be stored: the escape stays as written, in both charsets.
  assert.equal(decode('D\\X00\\oe'), 'D\\X00\\oe');
  assert.equal(decode('\\X410042\\', d, 'utf8'), '\\X410042\\');
});

test('highlighting is dropped, formatting becomes plain text', () => {
  assert.equal(decode('\\H\\IMPORTANT\\N\\ note'), 'IMPORTANT note');
  assert.equal(decode('line1\\.br\\line2'), 'line1\nline2');
  assert.equal(decode('a\\.sp\\b'), 'a\nb');
  assert.equal(decode('a\\.sp3\\b'), 'a\n\n\nb');
  assert.equal(decode('a\\.sk2\\b'), 'a  b');
  assert.equal(decode('a\\.fi\\\\.nf\\\\.in+4\\\\.ti-2\\b'), 'ab');
  assert.equal(decode('a\\.ce\\b'), 'a\nb');
});

test('unknown or unterminated sequences stay as received', () => {
  assert.equal(decode('\\Zlocal\\'), '\\Zlocal\\');
  assert.equal(decode('\\C2842\\text'), '\\C2842\\text');
  assert.equal(decode('\\M2442\\'), '\\M2442\\');
  assert.equal(decode('\\.zz\\'), '\\.zz\\');
  assert.equal(decode('C:\\dir'), 'C:\\dir');
  assert.equal(decode('a\\F\\b\\'), 'a|b\\');
  assert.equal(decode('\\\\'), '\\\\');
  assert.equal(decode('\\Q\\x\\F\\'), '\\Q\\x|');
});

test('escapeValue escapes every delimiter and line breaks, and decodes back', () => {
  const text = 'a|b^c&d~e\\f';
  const escaped = escapeValue(text, d);
  assert.equal(escaped, 'a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f');
  assert.equal(decode(escaped), text);
  assert.equal(escapeValue('l1\nl2\r\nl3\rl4', d), 'l1\\.br\\l2\\.br\\l3\\X0D\\l4');
  assert.equal(decode(escapeValue('l1\nl2\rl3', d)), 'l1\nl2\rl3');
  assert.equal(escapeValue('plain', d), 'plain');
  assert.equal(escapeValue('a#b', { ...d, truncation: '#' }), 'a\\P\\b');
  assert.equal(escapeValue('a#b', d), 'a#b');
});

test('escapes with custom delimiters use the custom escape character', () => {
  const custom: Delimiters = { field: '!', component: '@', repetition: '*', escape: '%', subcomponent: '$' };
  assert.equal(escapeValue('x!y@z%', custom), 'x%F%y%S%z%E%');
  assert.equal(decode('x%F%y%S%z%E%%T%%R%', custom), 'x!y@z%$*');
  assert.equal(decode('x\\F\\', custom), 'x\\F\\');
});

test('escape sequences inside a message decode on get and survive the round trip', () => {
  const text = 'MSH|^~\\&|A|B|C|D|20260101||ORU^R01|1|P|2.5\rOBX|1|FT|X||Line\\.br\\two \\H\\bold\\N\\ \\F\\\\S\\\\T\\\\R\\\\E\\ \\X41\\ \\Zq\\\r';
  const msg = parseMessage(text);
  assert.equal(msg.get('OBX-5'), 'Line\ntwo bold |^&~\\ A \\Zq\\');
  assert.equal(serializeMessage(msg).toString('latin1'), text);
});
