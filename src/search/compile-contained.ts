/**
 * `_contained=true|both` → SQL (R4 search, "Contained resources"). Contained
 * resources are searched over the `contained_live` view (migration 042): one
 * row per contained resource of a live container, keyed by
 * `<ContainerType>/<containerId>#<localId>` — the key its index rows carry —
 * with the container's version columns. The WHERE clause of a type search
 * (compile-where.ts) runs over it unchanged.
 *
 * The statements return keys, not content: `container_type`, `container_id`
 * and `local_id` (null for a resource matched on its own, and for containers
 * returned in place of their contained matches). The store reads the
 * containers afterwards, so what is read and audited is always a stored resource.
 */
import { unsupportedParam } from './parse-criterion.js';
import type { SearchQuery } from './query.js';
import { sortKeyExpression } from './compile-sort.js';
import { whereClause } from './compile-where.js';
import { createSqlParams, type SqlParams } from './sql-params.js';
import type { CompiledSql } from './compile.js';
import type { ContainedType } from './system-params.js';

export interface ContainedSearch {
  mode: 'true' | 'both';
  /** Return containers (each once) or the contained resources alone. */
  as: ContainedType;
  /** Container types the caller may read; null: every type. */
  containerTypes: readonly string[] | null;
}

/** One row of a contained search page. */
export interface ContainedMatchRow {
  container_type: string;
  container_id: string;
  local_id: string | null;
}

/**
 * Refuses what a contained search cannot answer: `_id` (a contained resource's
 * id is local to its container) and `_sort` unless the matches are contained
 * resources alone (containers of several types have no common sort value).
 */
export function checkContainedQuery(query: SearchQuery, c: Pick<ContainedSearch, 'mode' | 'as'>): void {
  if (query.criteria.some((x) => x.kind === 'id')) throw unsupportedParam('_id', 'with _contained=true or both: a contained resource has no id of its own outside its container');
  if (query.sort.length > 0 && (c.mode === 'both' || c.as === 'container')) {
    throw unsupportedParam('_sort', 'with _contained, only when contained resources are returned alone (_contained=true&_containedType=contained)');
  }
}

function containedWhere(query: SearchQuery, p: SqlParams, c: ContainedSearch): string {
  const where = whereClause(query, p);
  return c.containerTypes === null ? where : `${where}\n  AND r.container_type = ANY(${p.add(c.containerTypes, 'text[]')})`;
}

/** The matches, unordered: container_type, container_id, local_id and a paging key `k`. */
function matchSet(query: SearchQuery, p: SqlParams, c: ContainedSearch): string {
  if (c.as === 'container') {
    const containers = `SELECT r.container_type, r.container_id FROM contained_live r WHERE ${containedWhere(query, p, c)}`;
    const own = c.mode === 'both' ? `SELECT r.resource_type AS container_type, r.id AS container_id FROM resource r WHERE ${whereClause(query, p)}\nUNION\n` : '';
    // UNION (not ALL) keeps each container once, however many of its contained resources match.
    return `SELECT m.container_type, m.container_id, NULL::text AS local_id FROM (${own}${c.mode === 'both' ? containers : `${containers} GROUP BY 1, 2`}) m`;
  }
  const contained = `SELECT r.container_type, r.container_id, r.local_id FROM contained_live r WHERE ${containedWhere(query, p, c)}`;
  if (c.mode === 'true') return contained;
  return `SELECT r.resource_type AS container_type, r.id AS container_id, NULL::text AS local_id FROM resource r WHERE ${whereClause(query, p)}
UNION ALL
${contained}`;
}

/** One page: LIMIT count+1, like compileSearch. Contained resources alone (`true`) may be sorted. */
export function compileContainedSearch(query: SearchQuery, tenant: string, c: ContainedSearch): CompiledSql {
  checkContainedQuery(query, c);
  const p = createSqlParams([tenant, query.resourceType]);
  const limit = `LIMIT ${p.add(query.count + 1, 'bigint')} OFFSET ${p.add(query.offset, 'bigint')}`;
  if (c.mode === 'true' && c.as === 'contained') {
    const order = query.sort.map((k) => sortKeyExpression(k, p));
    if (!query.sort.some((k) => k.kind === 'id')) order.push('r.id ASC');
    const sql = `SELECT r.container_type, r.container_id, r.local_id FROM contained_live r
WHERE ${containedWhere(query, p, c)}
ORDER BY ${order.join(', ')}
${limit}`;
    return { sql, params: p.values };
  }
  // Stable pages: containers (and own matches) by type and id, contained matches after their container.
  const sql = `SELECT * FROM (${matchSet(query, p, c)}) m
ORDER BY m.container_type COLLATE "C", m.container_id COLLATE "C", m.local_id COLLATE "C" NULLS FIRST
${limit}`;
  return { sql, params: p.values };
}

/** `_total=accurate`: one row `{ total }`, counting what the pages list (each container once when containers are returned). */
export function compileContainedCount(query: SearchQuery, tenant: string, c: ContainedSearch): CompiledSql {
  checkContainedQuery(query, c);
  const p = createSqlParams([tenant, query.resourceType]);
  return { sql: `SELECT count(*) AS total FROM (${matchSet(query, p, c)}) m`, params: p.values };
}
