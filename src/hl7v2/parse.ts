import { isAscii } from 'node:buffer';
import { asciiEncoding, decodeBytes, encodingOf, type TextEncoding } from './charset.js';
import { malformed, printable } from './errors.js';
import { decodeValue } from './escape.js';
import { readDelimiters, segmentId } from './header.js';
import { ParsedMessage } from './message.js';
import type { Delimiters, Hl7Message } from './model.js';
import { ParsedSegment } from './segment.js';
import { splitSegments, terminatorOf } from './split.js';

const BOM_CHAR = '\uFEFF';
const BEYOND_LATIN1 = /[^\x00-\xff]/u;

/**
 * Parses one HL7 v2 message (v2.2–v2.8). A Buffer is decoded with the
 * character set MSH-18 declares; a string is taken as already decoded.
 * Throws HavenError HL7_MALFORMED (with a reason a sender can act on) or
 * HL7_CHARSET_UNSUPPORTED. Field values are decoded lazily, on `get`.
 */
export function parseMessage(input: Buffer | string): Hl7Message {
  return typeof input === 'string' ? parseString(input) : parseBuffer(input);
}

/** As parseMessage, with the implementation type (the batch parser and serializer use its layout). */
export function parseString(input: string): ParsedMessage {
  const bom = input.startsWith(BOM_CHAR);
  const text = bom ? input.slice(1) : input;
  const header = readHeader(firstLine(text));
  // Undeclared text beyond latin1 can only be written back as UTF-8.
  const encoding = bom || (header.charset === '' && BEYOND_LATIN1.test(text)) ? 'utf8' : encodingOf(header.charset);
  return parseText(text, header.delimiters, header.charset, encoding, bom);
}

export function parseBuffer(input: Buffer): ParsedMessage {
  const bom = input.length >= 3 && input[0] === 0xef && input[1] === 0xbb && input[2] === 0xbf;
  const body = bom ? input.subarray(3) : input;
  if (isAscii(body)) {
    // The common case: one decode, and the bytes read the same in every supported charset.
    const text = body.toString('latin1');
    const header = readHeader(firstLine(text));
    return parseText(text, header.delimiters, header.charset, asciiEncoding(header.charset, bom), bom);
  }
  let end = body.indexOf(13);
  const lf = body.indexOf(10);
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  // MSH is ASCII in every charset Haven reads, so latin1 is safe for finding MSH-18.
  const header = readHeader(body.toString('latin1', 0, end < 0 ? body.length : end));
  const { text, encoding } = decodeBytes(body, header.charset, bom);
  return parseText(text, header.delimiters, header.charset, encoding, bom);
}

function firstLine(text: string): string {
  let end = text.indexOf('\r');
  const lf = text.indexOf('\n');
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  return end < 0 ? text : text.slice(0, end);
}

interface Header {
  delimiters: Delimiters;
  charset: string;
}

function readHeader(line: string): Header {
  if (line.length === 0) throw malformed('The message is empty or starts with a blank line; it must start with MSH');
  if (!line.startsWith('MSH')) {
    const id = line.slice(0, 3);
    if (id === 'FHS' || id === 'BHS') throw malformed(`The input is a batch (starts with ${id}); send one message, or submit it as a batch`);
    throw malformed(`Message does not start with MSH (found ${printable(id)})`);
  }
  const delimiters = readDelimiters(line, 'MSH');
  return { delimiters, charset: charsetField(line, delimiters) };
}

/** MSH-18, first repetition, found by counting separators: cheaper than splitting the whole MSH. */
function charsetField(line: string, d: Delimiters): string {
  let start = 3;
  for (let n = 1; n < 18; n++) {
    start = line.indexOf(d.field, start) + 1;
    if (start === 0) return '';
  }
  let end = line.indexOf(d.field, start);
  if (end < 0) end = line.length;
  const rep = line.indexOf(d.repetition, start);
  if (rep >= 0 && rep < end) end = rep;
  const value = line.slice(start, end);
  return value.includes(d.escape) ? decodeValue(value, d, 'latin1') : value;
}

function parseText(text: string, delimiters: Delimiters, declared: string, encoding: TextEncoding, bom: boolean): ParsedMessage {
  // No HL7 v2 data type carries a NUL (binary data travels Base64-encoded), and none could be stored as text.
  const nul = text.indexOf('\u0000');
  if (nul >= 0) throw malformed(`The message contains a NUL character (0x00) at offset ${nul}; HL7 v2 text may not hold one`);
  const { raws, separators } = splitSegments(text);
  const ctx = { delimiters, encoding };
  const fieldSep = delimiters.field.charCodeAt(0);
  const segments: ParsedSegment[] = new Array<ParsedSegment>(raws.length);
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i]!;
    const name = segmentId(raw, fieldSep, i + 1);
    if (name === 'MSH' && i > 0) {
      throw malformed(`Segment ${i + 1} is a second MSH: one message holds one MSH (several messages are sent as a batch or one per frame)`);
    }
    segments[i] = new ParsedSegment(name, raw, ctx);
  }
  const msg = new ParsedMessage(segments, delimiters, declared === '' ? 'ASCII' : declared, terminatorOf(separators), {
    separators,
    bom,
    encoding,
  });
  if (msg.type.code === '') throw malformed('MSH-9 (message type) is empty; it must hold the message code, e.g. ADT^A01');
  return msg;
}
