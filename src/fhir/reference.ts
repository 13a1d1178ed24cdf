import type { ReferenceIndexValue } from './index-values.js';

export type ReferenceParts = Omit<ReferenceIndexValue, 'type' | 'param'>;

// Type/id, optionally with /_history/vid; ids per R4 ([A-Za-z0-9\-\.]{1,64}).
const RELATIVE = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const ABSOLUTE_TAIL = /\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

function empty(): ReferenceParts {
  return { targetType: null, targetId: null, url: null, version: null, identifierSystem: null, identifierValue: null };
}

function fromCanonical(value: string): ReferenceParts {
  const bar = value.indexOf('|');
  const parts = empty();
  parts.url = bar < 0 ? value : value.slice(0, bar);
  parts.version = bar < 0 ? null : value.slice(bar + 1) || null;
  return parts;
}

/** Reference.reference string: local `Type/id`, or an absolute URL / urn kept as url. */
function fromLiteral(value: string, parts: ReferenceParts): void {
  const m = RELATIVE.exec(value);
  if (m) {
    parts.targetType = m[1] ?? null;
    parts.targetId = m[2] ?? null;
  } else {
    parts.url = value;
  }
}

/**
 * Index parts of a Reference (object) or canonical (string). Contained
 * references (`#id`) point inside the resource and are not indexed.
 */
export function parseReference(data: unknown): ReferenceParts | null {
  if (typeof data === 'string') return data.length > 0 && !data.startsWith('#') ? fromCanonical(data) : null;
  if (typeof data !== 'object' || data === null) return null;
  const ref = data as Record<string, unknown>;
  const parts = empty();
  const literal = ref['reference'];
  if (typeof literal === 'string' && literal.length > 0) {
    if (literal.startsWith('#')) return null;
    fromLiteral(literal, parts);
  }
  const identifier = ref['identifier'];
  if (typeof identifier === 'object' && identifier !== null) {
    const id = identifier as Record<string, unknown>;
    parts.identifierSystem = typeof id['system'] === 'string' ? id['system'] : null;
    parts.identifierValue = typeof id['value'] === 'string' ? id['value'] : null;
  }
  if (parts.targetId === null && parts.url === null && parts.identifierValue === null) return null;
  return parts;
}

/**
 * The types of the contained resources of the resource being extracted, by
 * local id, for `#id` references, and the container's own type under '' (a
 * contained resource's `#` names its container); null outside
 * `withLocalTargets`. Extraction is synchronous, so one resource's map never
 * meets another's.
 */
let localTargets: ReadonlyMap<string, string> | null = null;

/**
 * Runs `work` (synchronous extraction of `resource`, or of one of its
 * contained resources, whose `#sibling` and `#` references point into it)
 * with its contained resources' types known to referenceTargetType. A
 * resource without contained resources leaves the current map in place: a
 * contained resource has none of its own, so inside its container's call it
 * still sees its siblings.
 */
export function withLocalTargets<T>(resource: object, work: () => T): T {
  const contained = (resource as { contained?: unknown }).contained;
  if (!Array.isArray(contained) || contained.length === 0) return work();
  const types = new Map<string, string>();
  const ownType = (resource as { resourceType?: unknown }).resourceType;
  if (typeof ownType === 'string') types.set('', ownType);
  for (const c of contained as unknown[]) {
    const r = c as { resourceType?: unknown; id?: unknown } | null;
    if (typeof r?.resourceType === 'string' && typeof r.id === 'string' && !types.has(r.id)) types.set(r.id, r.resourceType);
  }
  const outer = localTargets;
  localTargets = types;
  try {
    return work();
  } finally {
    localTargets = outer;
  }
}

/**
 * The resource type a Reference points to, from its literal (local or
 * absolute; `#id` by the contained resource it names, see withLocalTargets)
 * or its `type` element. Stands in for `resolve() is X`, which fhirpath.js
 * cannot evaluate without fetching the target.
 */
export function referenceTargetType(data: unknown): string | null {
  if (typeof data !== 'object' || data === null) return null;
  const ref = data as Record<string, unknown>;
  const literal = ref['reference'];
  if (typeof literal === 'string' && literal.startsWith('#')) return localTargets?.get(literal.slice(1)) ?? null;
  if (typeof literal === 'string') {
    const m = RELATIVE.exec(literal) ?? ABSOLUTE_TAIL.exec(literal);
    if (m) return m[1] ?? null;
  }
  return typeof ref['type'] === 'string' ? ref['type'] : null;
}
