/**
 * FHIR search value escaping (R4 §3.1.1.5.7): `\,` `\$` `\|` `\\` stand for the
 * literal character. Splitting must happen before unescaping, so these helpers
 * split on unescaped separators and unescape each piece afterwards.
 */

/** Splits `raw` on every `sep` not preceded by an escaping backslash; pieces stay escaped. */
export function splitUnescaped(raw: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\\' && i + 1 < raw.length) {
      current += ch + raw[i + 1]!;
      i++;
    } else if (ch === sep) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Splits on the first unescaped `sep` only; returns one piece when there is none. */
export function splitFirstUnescaped(raw: string, sep: string): [string] | [string, string] {
  const parts = splitUnescaped(raw, sep);
  if (parts.length === 1) return [parts[0]!];
  return [parts[0]!, raw.slice(parts[0]!.length + 1)];
}

const escapable = new Set([',', '$', '|', '\\']);

/** Replaces `\,` `\$` `\|` `\\` by the character; any other backslash is kept literally. */
export function unescapeValue(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    const next = raw[i + 1];
    if (ch === '\\' && next !== undefined && escapable.has(next)) {
      out += next;
      i++;
    } else {
      out += ch;
    }
  }
  return out;
}
