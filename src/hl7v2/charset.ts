import { isAscii, isUtf8 } from 'node:buffer';
import { malformed, unencodable, unsupportedCharset } from './errors.js';

/** How text is turned into bytes: HL7 single-byte sets map 1:1 onto latin1. */
export type TextEncoding = 'latin1' | 'utf8';

/** MSH-18 values Haven reads (HL7 table 0211), with the byte encoding each means. */
const CHARSETS: ReadonlyMap<string, TextEncoding> = new Map([
  ['', 'latin1'],
  ['ASCII', 'latin1'],
  ['8859/1', 'latin1'],
  ['UNICODE UTF-8', 'utf8'],
]);

export const SUPPORTED_CHARSETS = ['ASCII', '8859/1', 'UNICODE UTF-8'] as const;

// Charset names are codes; anything else in MSH-18 is not echoed, as it could be misplaced data.
const CODE_LIKE = /^[\w ./-]{1,24}$/;

export function encodingOf(charset: string): TextEncoding {
  const enc = CHARSETS.get(charset.trim().toUpperCase());
  if (enc === undefined) {
    throw unsupportedCharset(
      `MSH-18 declares the character set ${CODE_LIKE.test(charset) ? JSON.stringify(charset) : '(an unrecognised value)'}, which Haven does not read; ` +
        `send one of ${SUPPORTED_CHARSETS.join(', ')}`,
    );
  }
  return enc;
}

/**
 * Decodes message bytes. ASCII is read as latin1 so that stray 8-bit bytes
 * survive a round trip instead of being silently changed. Without MSH-18 a
 * message whose 8-bit bytes form valid UTF-8 is read as UTF-8 (what most
 * undeclared senders mean); otherwise as latin1.
 */
export function decodeBytes(bytes: Buffer, charset: string, bom: boolean): { text: string; encoding: TextEncoding } {
  const declared = declaredEncoding(charset, bom);
  if (declared === 'utf8' || bom) {
    if (!isUtf8(bytes)) {
      throw malformed(`The message is declared UTF-8 but contains byte sequences that are not UTF-8 (first at byte ${firstBadUtf8(bytes)})`);
    }
    return { text: bytes.toString('utf8'), encoding: 'utf8' };
  }
  if (declared === undefined && !isAscii(bytes) && isUtf8(bytes)) return { text: bytes.toString('utf8'), encoding: 'utf8' };
  return { text: bytes.toString('latin1'), encoding: 'latin1' };
}

/** Whether `b` is a UTF-8 continuation byte (10xxxxxx) within [lo, hi] (RFC 3629 §4 narrows the second byte of some leads). */
const continues = (b: number | undefined, lo = 0x80, hi = 0xbf): boolean => b !== undefined && b >= lo && b <= hi;

/**
 * Byte offset of the first invalid UTF-8 sequence; only runs on the error path.
 * One pass without allocation: a 1 MB field once took ~170 ms here when every
 * character was checked through a Buffer view of its own.
 */
function firstBadUtf8(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i += 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
      if (!continues(bytes[i + 1])) return i;
      i += 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      const lo = b === 0xe0 ? 0xa0 : 0x80; // no overlong forms
      const hi = b === 0xed ? 0x9f : 0xbf; // no UTF-16 surrogates
      if (!continues(bytes[i + 1], lo, hi) || !continues(bytes[i + 2])) return i;
      i += 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      const lo = b === 0xf0 ? 0x90 : 0x80; // no overlong forms
      const hi = b === 0xf4 ? 0x8f : 0xbf; // nothing above U+10FFFF
      if (!continues(bytes[i + 1], lo, hi) || !continues(bytes[i + 2]) || !continues(bytes[i + 3])) return i;
      i += 4;
    } else {
      return i;
    }
  }
  return i;
}

function declaredEncoding(charset: string, bom: boolean): TextEncoding | undefined {
  const declared = charset.trim() === '' ? undefined : encodingOf(charset);
  if (bom && declared === 'latin1' && charset.trim().toUpperCase() !== 'ASCII') {
    throw malformed(`The message starts with a UTF-8 byte order mark but MSH-18 declares ${JSON.stringify(charset)}`);
  }
  return declared;
}

/** The encoding of a message whose bytes are all ASCII: what matters left is how \X..\ escapes decode. */
export function asciiEncoding(charset: string, bom: boolean): TextEncoding {
  const declared = declaredEncoding(charset, bom);
  return bom ? 'utf8' : (declared ?? 'latin1');
}

const BEYOND_LATIN1 = /[^\x00-\xff]/u;

export function encodeText(text: string, encoding: TextEncoding, charset: string): Buffer {
  if (encoding === 'latin1') {
    const bad = BEYOND_LATIN1.exec(text);
    if (bad) {
      throw unencodable(
        `Character U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} cannot be written in the character set ${JSON.stringify(charset || 'ASCII')}; declare UNICODE UTF-8 in MSH-18`,
      );
    }
    return Buffer.from(text, 'latin1');
  }
  return Buffer.from(text, 'utf8');
}
