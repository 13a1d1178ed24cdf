import type { Delimiters } from './model.js';
import type { TextEncoding } from './charset.js';

/**
 * HL7 v2 escape sequences (v2.8 chapter 2.7). Decoding is total: a sequence
 * Haven does not know (\Zxx\ local ones, \C…\/\M…\ charset switches) or an
 * unterminated one stays in the text as received, so nothing is lost.
 */
export function decodeValue(value: string, d: Delimiters, encoding: TextEncoding): string {
  const esc = d.escape;
  let open = value.indexOf(esc);
  if (open < 0) return value;
  let out = '';
  // Text from `last` on is not yet copied; unknown sequences stay in it, so long runs cost no concatenation.
  let last = 0;
  while (open >= 0) {
    const close = value.indexOf(esc, open + 1);
    if (close < 0) break;
    const decoded = close - open > MAX_SEQUENCE ? undefined : decodeSequence(value.slice(open + 1, close), d, encoding);
    if (decoded !== undefined) {
      out += value.slice(last, open) + decoded;
      last = close + 1;
    }
    open = value.indexOf(esc, close + 1);
  }
  return last === 0 ? value : out + value.slice(last);
}

const HEX = /^(?:[0-9A-Fa-f]{2})+$/;
/** Longer sequences are not escapes (a \X…\ of 32 KB would be absurd); skipping them bounds the work per value. */
const MAX_SEQUENCE = 32_768;

function decodeSequence(seq: string, d: Delimiters, encoding: TextEncoding): string | undefined {
  if (seq.length === 1) return singleLetter(seq, d);
  const kind = seq.charCodeAt(0);
  if (kind === 0x58 /* X */) {
    const hex = seq.slice(1);
    if (!HEX.test(hex)) return undefined;
    // One latin1 byte is one character: no Buffer needed for the common \X0D\-style escape.
    const text = encoding === 'latin1' || hex.length === 2 ? latin1Hex(hex, encoding) : Buffer.from(hex, 'hex').toString(encoding);
    // A NUL is no text (and PostgreSQL text cannot hold one): such an escape stays as it was written.
    return text.includes('\u0000') ? undefined : text;
  }
  if (kind === 0x2e /* . */) return formatting(seq.slice(1));
  return undefined;
}

function latin1Hex(hex: string, encoding: TextEncoding): string {
  if (encoding === 'utf8' && parseInt(hex, 16) > 0x7f) return '\uFFFD'; // a lone byte above 0x7F is not UTF-8
  let out = '';
  for (let i = 0; i < hex.length; i += 2) out += String.fromCharCode(parseInt(hex.slice(i, i + 2), 16));
  return out;
}

function singleLetter(letter: string, d: Delimiters): string | undefined {
  switch (letter) {
    case 'F':
      return d.field;
    case 'S':
      return d.component;
    case 'T':
      return d.subcomponent;
    case 'R':
      return d.repetition;
    case 'E':
      return d.escape;
    case 'P':
      return d.truncation;
    case 'H': // start and end of highlighting: presentation only
    case 'N':
      return '';
    default:
      return undefined;
  }
}

const FORMAT = /^(br|sp|sk|fi|nf|in|ti|ce)([+-]?\d{0,4})$/;

/** Formatted-text commands (FT data type) reduced to plain text. */
function formatting(command: string): string | undefined {
  const m = FORMAT.exec(command);
  if (!m) return undefined;
  const n = m[2] === '' ? 1 : Math.max(0, Math.min(Number(m[2]), 99));
  switch (m[1] ?? '') {
    case 'br':
    case 'ce':
      return '\n';
    case 'sp':
      return '\n'.repeat(Math.max(1, n));
    case 'sk':
      return ' '.repeat(n);
    default: // fill mode, indentation: layout hints without a plain-text equivalent
      return '';
  }
}

/**
 * Escapes text for use as one HL7 value (a field, component or subcomponent)
 * with the message's delimiters. Line breaks become `\.br\`, a lone carriage
 * return `\X0D\`, since raw CR/LF would end the segment.
 */
export function escapeValue(text: string, d: Delimiters): string {
  let out = '';
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const rep = replacement(text[i]!, d, text[i + 1]);
    if (rep === undefined) continue;
    out += text.slice(last, i) + rep;
    last = i + (text[i] === '\r' && text[i + 1] === '\n' ? 2 : 1);
    if (last === i + 2) i++;
  }
  return last === 0 ? text : out + text.slice(last);
}

function replacement(ch: string, d: Delimiters, next: string | undefined): string | undefined {
  const e = d.escape;
  if (ch === e) return `${e}E${e}`;
  if (ch === d.field) return `${e}F${e}`;
  if (ch === d.component) return `${e}S${e}`;
  if (ch === d.subcomponent) return `${e}T${e}`;
  if (ch === d.repetition) return `${e}R${e}`;
  if (d.truncation !== undefined && ch === d.truncation) return `${e}P${e}`;
  if (ch === '\n' || (ch === '\r' && next === '\n')) return `${e}.br${e}`;
  if (ch === '\r') return `${e}X0D${e}`;
  return undefined;
}
