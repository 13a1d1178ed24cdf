import { HavenError } from '../kernel/errors.js';

/**
 * Errors of the HL7 v2 parser. Reasons name segments and fields by position
 * and never quote field values: the text reaches logs and NAKs, and field
 * values are PHI.
 */
export function malformed(reason: string): HavenError {
  return new HavenError('incorrect', 'HL7_MALFORMED', reason);
}

export function unsupportedCharset(reason: string): HavenError {
  return new HavenError('unsupported', 'HL7_CHARSET_UNSUPPORTED', reason);
}

export function unencodable(reason: string): HavenError {
  return new HavenError('unprocessable', 'HL7_UNENCODABLE', reason);
}

export function invalidPath(path: string): HavenError {
  return new HavenError(
    'incorrect',
    'HL7_PATH_INVALID',
    `Invalid HL7 path ${printable(path.slice(0, 40))}: expected a path like PID-3[2].1.2 or OBX[2]-5`,
  );
}

/** Shows a short token (a segment id, a delimiter) with control characters made visible. */
export function printable(text: string): string {
  let out = "'";
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    out += code >= 0x20 && code < 0x7f ? ch : `\\u{${code.toString(16)}}`;
  }
  return `${out}'`;
}
