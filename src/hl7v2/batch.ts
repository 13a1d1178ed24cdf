import { isUtf8 } from 'node:buffer';
import { HavenError, isHavenError } from '../kernel/errors.js';
import { malformed } from './errors.js';
import { readDelimiters, segmentId } from './header.js';
import type { Delimiters, Hl7Message, Hl7Segment } from './model.js';
import { parseBuffer, parseString } from './parse.js';
import { ParsedSegment, type ValueContext } from './segment.js';
import { serializeMessage } from './serialize.js';
import { segmentOffsets, splitSegments, type SegmentTexts } from './split.js';

/** One BHS…BTS group (or the messages of an input without batch envelope). */
export interface Hl7BatchGroup<M = Hl7Message> {
  header?: Hl7Segment;
  trailer?: Hl7Segment;
  messages: M[];
}

export interface Hl7Batch<M = Hl7Message> {
  /** The input started with a UTF-8 byte order mark (kept for serializeBatch). */
  byteOrderMark?: boolean;
  fileHeader?: Hl7Segment;
  fileTrailer?: Hl7Segment;
  batches: Hl7BatchGroup<M>[];
  /** Every message of every batch, in order. */
  messages: M[];
}

const ENVELOPE = new Set(['FHS', 'BHS', 'BTS', 'FTS']);

interface Cursor {
  input: Buffer | string;
  /** For a Buffer, the bytes read as latin1, so character offsets are byte offsets. */
  text: string;
  parts: SegmentTexts;
  offsets: number[];
  delimiters: Delimiters;
}

/**
 * Parses an HL7 batch file (FHS, BHS, MSH…, BTS, FTS; v2.8 chapter 2.10).
 * Each message is decoded with its own MSH-18. Counts in BTS-1 and FTS-1,
 * when given, must match. Also accepts bare concatenated messages.
 */
export function parseBatch(input: Buffer | string): Hl7Batch {
  return read(input, (c, start, end, ordinal) => parseOne(c, start, end, ordinal));
}

/**
 * The envelope of a batch checked as parseBatch does (order of FHS, BHS, BTS, FTS and their
 * counts), each message left as its own bytes, unparsed: a receiver takes the messages one by
 * one, answering a malformed one with its own AR while the others go through.
 */
export function splitBatch(input: Buffer): Hl7Batch<Buffer> {
  return read(input, (c, start, end) => {
    const bytes = c.input as Buffer;
    return bytes.subarray(c.offsets[start]!, c.offsets[end - 1]! + c.parts.raws[end - 1]!.length + c.parts.separators[end - 1]!.length);
  });
}

/** Whether the input is a batch file or batch (starts with FHS or BHS, after a byte order mark). */
export function isBatch(input: Buffer): boolean {
  const head = stripBomBytes(input).subarray(0, 3).toString('latin1');
  return head === 'FHS' || head === 'BHS';
}

function read<M>(input: Buffer | string, take: Take<M>): Hl7Batch<M> {
  const bytes = typeof input === 'string' ? undefined : stripBomBytes(input);
  const text = bytes ? bytes.toString('latin1') : (input as string).replace(/^\uFEFF/, '');
  const parts = splitSegments(text);
  const first = parts.raws[0] ?? '';
  if (first === '') throw malformed('The batch is empty or starts with a blank line');
  const id = first.slice(0, 3);
  if (id !== 'FHS' && id !== 'BHS' && id !== 'MSH') throw malformed(`A batch starts with FHS, BHS or MSH (found segment id ${JSON.stringify(id)})`);
  const cursor: Cursor = { input: bytes ?? text, text, parts, offsets: segmentOffsets(parts), delimiters: readDelimiters(first, id) };
  const batch = walk(cursor, take);
  const bom = typeof input === 'string' ? input.startsWith('\uFEFF') : bytes !== input;
  return bom ? { byteOrderMark: true, ...batch } : batch;
}

/** Makes one message of segments [start, end). */
type Take<M> = (c: Cursor, start: number, end: number, ordinal: number) => M;

/** An envelope segment (FHS, BHS, BTS, FTS) that remembers its exact source, terminator included. */
class EnvelopeSegment extends ParsedSegment {
  readonly source: Buffer;

  constructor(name: string, raw: string, ctx: ValueContext, source: Buffer) {
    super(name, raw, ctx);
    this.source = source;
  }
}

/**
 * The batch as bytes: envelope segments as received, each message as
 * serializeMessage writes it, so a parsed batch file comes back unchanged.
 */
export function serializeBatch(batch: Hl7Batch): Buffer {
  const parts: Buffer[] = batch.byteOrderMark ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
  const envelope = (seg: Hl7Segment | undefined): void => {
    if (seg) parts.push(seg instanceof EnvelopeSegment ? seg.source : Buffer.from(`${seg.raw}\r`, 'utf8'));
  };
  envelope(batch.fileHeader);
  for (const group of batch.batches) {
    envelope(group.header);
    for (const m of group.messages) parts.push(serializeMessage(m));
    envelope(group.trailer);
  }
  envelope(batch.fileTrailer);
  return Buffer.concat(parts);
}

function stripBomBytes(b: Buffer): Buffer {
  return b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? b.subarray(3) : b;
}

function walk<M>(c: Cursor, take: Take<M>): Hl7Batch<M> {
  const out: Hl7Batch<M> = { batches: [], messages: [] };
  const { raws } = c.parts;
  let group: Hl7BatchGroup<M> | undefined;
  const fieldSep = c.delimiters.field.charCodeAt(0);
  let i = 0;
  while (i < raws.length) {
    const name = segmentId(raws[i]!, fieldSep, i + 1);
    if (out.fileTrailer) throw malformed(`Segment ${i + 1} (${name}) follows the file trailer FTS`);
    if (name === 'MSH') {
      const end = messageEnd(raws, i);
      group ??= openGroup(out);
      const msg = take(c, i, end, out.messages.length + 1);
      group.messages.push(msg);
      out.messages.push(msg);
      i = end;
      continue;
    }
    const seg = envelopeSegment(c, i, name);
    if (name === 'FHS') {
      if (i !== 0) throw malformed(`Segment ${i + 1} is an FHS; the file header must be the first segment`);
      out.fileHeader = seg;
    } else if (name === 'BHS') {
      group = openGroup(out);
      group.header = seg;
    } else if (name === 'BTS') {
      if (!group) throw malformed(`Segment ${i + 1} is a BTS without a batch`);
      group.trailer = seg;
      checkCount(seg, group.messages.length, 'BTS-1 (batch message count)', 'messages');
      group = undefined;
    } else {
      out.fileTrailer = seg;
      checkCount(seg, out.batches.length, 'FTS-1 (file batch count)', 'batches');
    }
    i++;
  }
  return out;
}

function openGroup<M>(out: Hl7Batch<M>): Hl7BatchGroup<M> {
  const group: Hl7BatchGroup<M> = { messages: [] };
  out.batches.push(group);
  return group;
}

function messageEnd(raws: readonly string[], start: number): number {
  let end = start + 1;
  while (end < raws.length && !ENVELOPE.has(raws[end]!.slice(0, 3)) && !raws[end]!.startsWith('MSH')) end++;
  return end;
}

function envelopeSegment(c: Cursor, i: number, name: string): EnvelopeSegment {
  if (!ENVELOPE.has(name)) {
    throw malformed(`Segment ${i + 1} (${name}) is outside a message: in a batch, every message starts with MSH`);
  }
  const raw = segmentText(c, i);
  const delimiters = name === 'FHS' || name === 'BHS' ? readDelimiters(raw, name) : c.delimiters;
  const start = c.offsets[i]!;
  const end = start + c.parts.raws[i]!.length + c.parts.separators[i]!.length;
  const source = typeof c.input === 'string' ? Buffer.from(c.input.slice(start, end), 'utf8') : c.input.subarray(start, end);
  return new EnvelopeSegment(name, raw, { delimiters, encoding: typeof c.input === 'string' ? 'latin1' : 'utf8' }, source);
}

/** The segment's text; envelope segments carry no MSH-18, so their bytes are read as UTF-8 when valid. */
function segmentText(c: Cursor, i: number): string {
  const raw = c.parts.raws[i]!;
  if (typeof c.input === 'string') return raw;
  const start = c.offsets[i]!;
  const bytes = c.input.subarray(start, start + raw.length);
  return isUtf8(bytes) ? bytes.toString('utf8') : raw;
}

function parseOne(c: Cursor, start: number, end: number, ordinal: number): Hl7Message {
  const from = c.offsets[start]!;
  const to = c.offsets[end - 1]! + c.parts.raws[end - 1]!.length + c.parts.separators[end - 1]!.length;
  try {
    return typeof c.input === 'string' ? parseString(c.input.slice(from, to)) : parseBuffer(c.input.subarray(from, to));
  } catch (err) {
    if (!isHavenError(err)) throw err;
    throw new HavenError(err.category, err.code, `Message ${ordinal} of the batch (segment ${start + 1} of the file): ${err.message}`);
  }
}

function checkCount(seg: ParsedSegment, actual: number, field: string, what: string): void {
  const declared = seg.get('1');
  if (declared === undefined) return;
  if (!/^\d{1,9}$/.test(declared.trim())) throw malformed(`${field} is not a number`);
  if (Number(declared) !== actual) throw malformed(`${field} says ${Number(declared)} ${what}, but the ${seg.name === 'BTS' ? 'batch' : 'file'} holds ${actual}`);
}
