/**
 * One page of a `_contained=true|both` search: the matching keys
 * (src/search/compile-contained.ts), then the containers they name, read like
 * any search result (decoded, through the afterRead hooks: the audit entry
 * names the stored resources that were disclosed). Contained resources
 * returned alone are cut out of their container's current version.
 */
import type { RequestContext } from '../kernel/index.js';
import { compileContainedSearch, type ContainedMatchRow, type ContainedSearch, type SearchQuery } from '../search/index.js';
import { containedKey } from './contained.js';
import type { FhirResource, StoredResource } from './model.js';
import type { ResourceReader } from './resource-store.js';

const keyOf = (type: string, id: string) => `${type}/${id}`;

/** Current versions of the keyed resources, in one statement, deleted ones left out. */
function readKeys(tenant: string, rows: readonly ContainedMatchRow[]) {
  return {
    sql: `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM unnest($2::text[], $3::text[]) AS k(t, i)
JOIN resource r ON r.tenant_id = $1 AND r.resource_type = k.t AND r.id = k.i
WHERE NOT r.deleted`,
    params: [tenant, rows.map((r) => r.container_type), rows.map((r) => r.container_id)],
  };
}

/** A contained resource of `container` as a result of its own, or undefined when the current version no longer holds it. */
function cutOut(container: StoredResource, parsed: FhirResource, localId: string): StoredResource | undefined {
  const list = parsed['contained'];
  const found = Array.isArray(list) ? (list as FhirResource[]).find((c) => typeof c === 'object' && c !== null && c.id === localId) : undefined;
  if (!found || typeof found.resourceType !== 'string') return undefined;
  return {
    resourceType: found.resourceType,
    id: localId,
    versionId: container.versionId,
    lastUpdated: container.lastUpdated,
    deleted: false,
    json: JSON.stringify(found),
    container: { resourceType: container.resourceType, id: container.id },
  };
}

export interface ContainedPage {
  /** The page's results: stored resources, and contained ones alone (with `container`) for `_containedType=contained`. */
  entries: StoredResource[];
  hasMore: boolean;
  /** Keys `_include`/`_revinclude` start from: a contained result stands for its index key. */
  includeSources: StoredResource[];
}

export async function runContainedPage(ctx: RequestContext, reader: ResourceReader, query: SearchQuery, c: ContainedSearch): Promise<ContainedPage> {
  const rows = (await reader.rows(ctx, compileContainedSearch(query, ctx.tenant, c))) as unknown as ContainedMatchRow[];
  const hasMore = rows.length > query.count;
  const page = rows.slice(0, query.count);
  if (page.length === 0) return { entries: [], hasMore, includeSources: [] };
  const unique = [...new Map(page.map((r) => [keyOf(r.container_type, r.container_id), r])).values()];
  const stored = new Map((await reader.query(ctx, readKeys(ctx.tenant, unique))).map((s) => [keyOf(s.resourceType, s.id), s]));
  const parsed = new Map<string, FhirResource>();
  const entries: StoredResource[] = [];
  const includeSources: StoredResource[] = [];
  for (const row of page) {
    const key = keyOf(row.container_type, row.container_id);
    const container = stored.get(key);
    if (!container || container.json === null) continue; // changed between the two statements
    if (row.local_id === null) {
      entries.push(container);
      includeSources.push(container);
      continue;
    }
    let resource = parsed.get(key);
    if (!resource) parsed.set(key, (resource = JSON.parse(container.json) as FhirResource));
    const alone = cutOut(container, resource, row.local_id);
    if (!alone) continue;
    entries.push(alone);
    includeSources.push({ ...alone, id: containedKey(container.resourceType, container.id, row.local_id) });
  }
  return { entries, hasMore, includeSources };
}
