import type { FhirResource } from './model.js';

/**
 * True when two versions of a resource say the same thing: equal JSON values
 * (object key order aside, as JSON objects are unordered; array order counts,
 * as it does in FHIR), with meta.versionId and meta.lastUpdated left out, the
 * two elements the server itself stamps on every version. Everything else in
 * meta (tag, security, profile, source) is content: a change there is a change.
 */
export function sameContent(a: FhirResource, b: FhirResource): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    if (k === 'meta') {
      if (!equalJson(unstamped(a.meta), unstamped(b.meta))) return false;
    } else if (!equalJson(a[k], b[k])) return false;
  }
  return true;
}

/** meta without the server's stamps; an empty meta is the same as none. */
function unstamped(meta: FhirResource['meta']): Record<string, unknown> {
  if (meta === undefined || meta === null) return {};
  const { versionId: _v, lastUpdated: _l, ...rest } = meta;
  return rest;
}

/** Deep equality of JSON values; an object member whose value is undefined is absent (JSON.stringify drops it). */
function equalJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equalJson(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (x[k] === undefined) continue;
    n++;
    if (!Object.hasOwn(y, k) || !equalJson(x[k], y[k])) return false;
  }
  for (const k in y) if (y[k] !== undefined) n--;
  return n === 0;
}
