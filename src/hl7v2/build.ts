import { escapeValue } from './escape.js';
import type { Delimiters, Hl7Message } from './model.js';
import { parseString } from './parse.js';

/** A component: text, or its subcomponents. Text is escaped for you. */
export type Hl7ComponentInput = string | readonly string[];
/** A field: text, or its components; null/undefined/'' leave it empty. */
export type Hl7FieldValue = string | null | undefined | readonly Hl7ComponentInput[];
/** A field value, or several repetitions of one. */
export type Hl7FieldInput = Hl7FieldValue | { readonly repeat: readonly Hl7FieldValue[] };
/** `[segment id, { fieldNumber: value }]`, fields numbered as HL7 numbers them (MSH-3 is `3`). */
export type Hl7SegmentInput = readonly [name: string, fields: Readonly<Record<number, Hl7FieldInput>>];

export interface BuildOptions {
  /** Default `|^~\&`. An ACK should reuse the received message's delimiters. */
  delimiters?: Delimiters;
  /** Written to MSH-18 unless fields give 18 or the set is ASCII. */
  charset?: string;
  /** Default `\r`, the standard's. */
  segmentTerminator?: '\r' | '\n' | '\r\n';
}

export const DEFAULT_DELIMITERS: Delimiters = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

/**
 * Builds a new message from plain values, escaping text as needed. MSH-1 and
 * MSH-2 come from the delimiters; the result is a parsed message, so it has
 * the full path API and serializes with serializeMessage. Example, an ACK:
 *
 *   buildMessage([
 *     ['MSH', { 3: 'HAVEN', 7: '20260101120000', 9: ['ACK', 'A01', 'ACK'], 10: 'ACK-1', 11: 'P', 12: '2.5.1' }],
 *     ['MSA', { 1: 'AA', 2: received.controlId }],
 *   ], { delimiters: received.delimiters, charset: received.charset });
 *
 * Invalid segment ids or an empty MSH-9 throw HL7_MALFORMED, as parsing would.
 */
export function buildMessage(segments: readonly Hl7SegmentInput[], options: BuildOptions = {}): Hl7Message {
  const d = options.delimiters ?? DEFAULT_DELIMITERS;
  const terminator = options.segmentTerminator ?? '\r';
  const lines = segments.map(([name, fields]) => {
    if (name !== 'MSH') return segmentText(name, fields, d, 1);
    const withCharset = options.charset && options.charset !== 'ASCII' && fields[18] === undefined ? { ...fields, 18: options.charset } : fields;
    const enc = d.component + d.repetition + d.escape + d.subcomponent + (d.truncation ?? '');
    return `MSH${d.field}${enc}${segmentText('', withCharset, d, 3)}`;
  });
  return parseString(lines.map((line) => line + terminator).join(''));
}

function segmentText(name: string, fields: Readonly<Record<number, Hl7FieldInput>>, d: Delimiters, first: number): string {
  const numbers = Object.keys(fields)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= first);
  const last = numbers.length === 0 ? first - 1 : Math.max(...numbers);
  let out = name;
  for (let n = first; n <= last; n++) out += d.field + fieldText(fields[n], d);
  return out;
}

function fieldText(input: Hl7FieldInput, d: Delimiters): string {
  if (input !== null && typeof input === 'object' && 'repeat' in input) {
    return input.repeat.map((v) => valueText(v, d)).join(d.repetition);
  }
  return valueText(input, d);
}

function valueText(value: Hl7FieldValue, d: Delimiters): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return escapeValue(value, d);
  return value
    .map((c) => (typeof c === 'string' ? escapeValue(c, d) : c.map((s) => escapeValue(s, d)).join(d.subcomponent)))
    .join(d.component);
}
