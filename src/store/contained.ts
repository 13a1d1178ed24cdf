/**
 * Contained resources as index owners (migration 042): each contained
 * resource of a live container has its own search-index rows, under its own
 * type and a key no stored resource id can take, plus a `contained_resource`
 * row naming its container. Built here for the write path and reindexing alike.
 */
import type { IndexValue } from '../fhir/index-values.js';
import type { IndexedResource } from './index-writer.js';
import type { FhirResource } from './model.js';

/** `[resourceType, key, containerType, containerId, localId]`: one `contained_resource` row. */
export type ContainedRow = [string, string, string, string, string];

/**
 * The index key of a contained resource: `<ContainerType>/<containerId>#<localId>`.
 * R4 ids are `[A-Za-z0-9\-\.]{1,64}`, so it never equals a stored resource's id,
 * and searches that join index rows to `resource` never see it.
 */
export function containedKey(containerType: string, containerId: string, localId: string): string {
  return `${containerType}/${containerId}#${localId}`;
}

/** The contained resources that can be searched: an object with a type and an id, the first of each id. */
export function containedOf(resource: FhirResource): { resource: FhirResource; localId: string }[] {
  const list = resource['contained'];
  if (!Array.isArray(list) || list.length === 0) return [];
  const out: { resource: FhirResource; localId: string }[] = [];
  const ids = new Set<string>();
  for (const c of list as unknown[]) {
    if (typeof c !== 'object' || c === null) continue;
    const r = c as FhirResource;
    if (typeof r.resourceType !== 'string' || typeof r.id !== 'string' || r.id === '' || ids.has(r.id)) continue;
    ids.add(r.id);
    out.push({ resource: r, localId: r.id });
  }
  return out;
}

/**
 * Local references (`#id`, kept by extraction as their url) made references
 * to the contained resource's index key, so a chain follows them
 * (`Observation?subject.name=…` with the subject contained) and `_has` finds
 * them; one naming no contained resource is dropped. In a contained
 * resource's values `keys` also holds '' for `#`, its container.
 */
function resolveLocalReferences(values: IndexValue[], keys: ReadonlyMap<string, { type: string; key: string }>): IndexValue[] {
  if (!values.some((v) => v.type === 'reference' && v.url !== null && v.url.startsWith('#'))) return values;
  const out: IndexValue[] = [];
  for (const v of values) {
    if (v.type !== 'reference' || v.url === null || !v.url.startsWith('#')) {
      out.push(v);
      continue;
    }
    const target = keys.get(v.url.slice(1));
    if (target) out.push({ ...v, targetType: target.type, targetId: target.key, url: null });
  }
  return out;
}

/**
 * A container's own index entry, then one per contained resource, and the
 * `contained_resource` rows. A contained resource is extracted with its
 * container at hand (`extract`'s second argument), so parameters that test a
 * local target's type (`subject.where(resolve() is Patient)`) know the
 * sibling a `#id` names, or the container `#` names.
 */
export function indexedWithContained(
  type: string,
  id: string,
  resource: FhirResource,
  extract: (r: FhirResource, container?: FhirResource) => IndexValue[],
): { indexed: IndexedResource[]; contained: ContainedRow[] } {
  const inside = containedOf(resource);
  const keys = new Map(inside.map((c) => [c.localId, { type: c.resource.resourceType, key: containedKey(type, id, c.localId) }]));
  const indexed: IndexedResource[] = [{ resourceType: type, id, values: resolveLocalReferences(extract(resource), keys) }];
  const contained: ContainedRow[] = [];
  if (inside.length === 0) return { indexed, contained };
  const keysInside = new Map(keys).set('', { type, key: id });
  for (const c of inside) {
    const key = keys.get(c.localId)!.key;
    indexed.push({ resourceType: c.resource.resourceType, id: key, values: resolveLocalReferences(extract(c.resource, resource), keysInside) });
    contained.push([c.resource.resourceType, key, type, id, c.localId]);
  }
  return { indexed, contained };
}
