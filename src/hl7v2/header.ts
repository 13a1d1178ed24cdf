import { malformed, printable } from './errors.js';
import type { Delimiters } from './model.js';

function isDelimiterChar(code: number): boolean {
  // Printable ASCII punctuation only: letters, digits, spaces and control characters would be ambiguous with data.
  return code > 0x20 && code < 0x7f && !(code >= 0x30 && code <= 0x39) && !(code >= 0x41 && code <= 0x5a) && !(code >= 0x61 && code <= 0x7a);
}

/**
 * Reads the delimiters a header segment (MSH, FHS, BHS) declares in its
 * fields 1 and 2. `what` names the segment in error messages.
 */
export function readDelimiters(raw: string, what: string): Delimiters {
  const name = raw.slice(0, 3);
  if (raw.length < 4) throw malformed(`${what} ends before its field separator (${name}-1)`);
  const field = raw[3]!;
  if (!isDelimiterChar(field.charCodeAt(0))) {
    throw malformed(`${what} declares ${printable(field)} as field separator (${name}-1); it must be a punctuation character such as '|'`);
  }
  let end = raw.indexOf(field, 4);
  if (end < 0) end = raw.length;
  const enc = raw.slice(4, end);
  if (enc.length < 4 || enc.length > 5) {
    throw malformed(
      `${name}-2 (encoding characters) in ${what} must hold 4 characters (component, repetition, escape, subcomponent), ` +
        `optionally a 5th (truncation), e.g. '^~\\&'; found ${enc.length}`,
    );
  }
  const seen = new Set<string>([field]);
  for (const ch of enc) {
    if (!isDelimiterChar(ch.charCodeAt(0))) throw malformed(`${name}-2 in ${what} contains ${printable(ch)}, which cannot be a delimiter`);
    if (seen.has(ch)) throw malformed(`${name}-2 in ${what} uses ${printable(ch)} for two different delimiters`);
    seen.add(ch);
  }
  const d: Delimiters = { field, component: enc[0]!, repetition: enc[1]!, escape: enc[2]!, subcomponent: enc[3]! };
  if (enc.length === 5) d.truncation = enc[4]!;
  return d;
}

const A = 0x41;
const Z = 0x5a;
const ZERO = 0x30;
const NINE = 0x39;

function idChar(code: number, first: boolean): boolean {
  return (code >= A && code <= Z) || (!first && code >= ZERO && code <= NINE);
}

/** Checks `raw` starts with a valid segment id followed by the field separator (or ends); returns the id. */
export function segmentId(raw: string, fieldSep: number, position: number): string {
  if (raw.length < 3 || !idChar(raw.charCodeAt(0), true) || !idChar(raw.charCodeAt(1), false) || !idChar(raw.charCodeAt(2), false)) {
    throw malformed(
      `Segment ${position} has an invalid id ${printable(raw.slice(0, 3))}: segment ids are 3 upper-case letters or digits, starting with a letter`,
    );
  }
  if (raw.length > 3 && raw.charCodeAt(3) !== fieldSep) {
    throw malformed(`Segment ${position} (${raw.slice(0, 3)}) is not followed by the field separator ${printable(String.fromCharCode(fieldSep))}`);
  }
  // One string per id rather than one per segment: a message repeats a few ids many times.
  const key = (raw.charCodeAt(0) << 16) | (raw.charCodeAt(1) << 8) | raw.charCodeAt(2);
  let id = ids.get(key);
  if (id === undefined) {
    id = raw.slice(0, 3);
    ids.set(key, id);
  }
  return id;
}

/** Interned segment ids; bounded by the 26 × 36 × 36 valid ids. */
const ids = new Map<number, string>();
