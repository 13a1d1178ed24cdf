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

/**
 * The members an object of a known shape may have, and what each holds: a
 * string, a finite number, a nested shape, or an array of one.
 */
export type CanonicalShape = { readonly [key: string]: 'string' | 'number' | CanonicalShape | readonly [CanonicalShape] };

/** A shape with its keys in canonical (sorted) order, ready for {@link orderedCopy}. */
export interface CompiledShape {
  keys: string[];
  kinds: ('string' | 'number' | CompiledShape | [CompiledShape])[];
}

export function compileShape(shape: CanonicalShape): CompiledShape {
  const keys = Object.keys(shape).sort();
  const kinds = keys.map((k) => {
    const kind = shape[k]!;
    if (kind === 'string' || kind === 'number') return kind;
    if (Array.isArray(kind)) return [compileShape((kind as readonly [CanonicalShape])[0])] as [CompiledShape];
    return compileShape(kind as CanonicalShape);
  });
  return { keys, kinds };
}

/**
 * A copy of `value` whose keys are inserted in sorted order at every level,
 * or undefined when `value` does not fit `shape` exactly (a member the shape
 * does not name, one that is undefined, inherited or of another kind, a
 * non-finite number, a hole or non-object in an array). JSON.stringify of
 * the copy is then exactly canonicalJson(value): it writes keys in insertion
 * order, and the copy holds only strings, finite numbers, arrays and plain
 * objects (no toJSON, no undefined). A value that does not fit goes through
 * canonicalJson instead (canonicalFast).
 */
export function orderedCopy(value: unknown, shape: CompiledShape): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const { keys, kinds } = shape;
  let found = 0;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    const v = src[k];
    if (v === undefined) continue;
    if (!Object.hasOwn(src, k)) return undefined;
    const kind = kinds[i]!;
    if (kind === 'string') {
      if (typeof v !== 'string') return undefined;
      out[k] = v;
    } else if (kind === 'number') {
      if (typeof v !== 'number' || !Number.isFinite(v)) return undefined;
      out[k] = v;
    } else if (Array.isArray(kind)) {
      if (!Array.isArray(v)) return undefined;
      const items: unknown[] = new Array<unknown>(v.length);
      for (let j = 0; j < v.length; j++) {
        const item = orderedCopy(v[j], kind[0]);
        if (item === undefined) return undefined;
        items[j] = item;
      }
      out[k] = items;
    } else {
      const nested = orderedCopy(v, kind);
      if (nested === undefined) return undefined;
      out[k] = nested;
    }
    found++;
  }
  // Every own key was one of the shape's, with a value: nothing canonicalJson would write is missing.
  return Object.keys(src).length === found ? out : undefined;
}

/**
 * canonicalJson(value), natively when `value` fits `shape` (orderedCopy):
 * the same bytes, a third of the cost for an audit entry.
 */
export function canonicalFast(value: CanonicalValue, shape: CompiledShape): string {
  const copy = orderedCopy(value, shape);
  return copy === undefined ? canonicalJson(value) : JSON.stringify(copy);
}
