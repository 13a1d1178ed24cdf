/**
 * Canonical entry bytes: JSON with keys sorted at every level, no whitespace,
 * undefined members dropped, UTF-8. The leaf hash covers exactly these bytes,
 * so the encoding must never change for a given version (`v`) of the entry.
 *
 * Built by string concatenation rather than map/filter/join: every audited
 * read encodes one entry on the request path, and the intermediate arrays
 * were most of the encoder's cost. test/audit/canonical.test.ts holds it to
 * the bytes of the straightforward definition.
 */
export type CanonicalValue = string | number | boolean | null | CanonicalValue[] | { [k: string]: CanonicalValue | undefined };

export function canonicalJson(value: CanonicalValue | undefined): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('canonical JSON has no NaN or Infinity');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // A hole in a sparse array encodes as nothing, as Array.prototype.join rendered it before.
      if (i in value) out += canonicalJson(value[i]);
    }
    return `${out}]`;
  }
  const keys = Object.keys(value).sort();
  let out = '{';
  for (const k of keys) {
    const v = value[k];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(k)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

export function canonicalBytes(value: CanonicalValue): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}
