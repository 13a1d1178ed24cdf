/**
 * SearchQuery → one SQL statement per page. `$1` is always the tenant and `$2`
 * the resource type. Sorting: see compile-sort.ts.
 */
import type { Criterion, SearchQuery } from './query.js';
import { criterionCondition, scopeOf } from './compile-criterion.js';
import { compartmentCondition } from './compartment.js';
import { drivenSort, sortKeyExpression, type DrivenSort } from './compile-sort.js';
import { createSqlParams } from './sql-params.js';
import type { SqlParams } from './sql-params.js';
import type { Scope } from './compile-link.js';

export interface CompiledSql {
  sql: string;
  params: unknown[];
}

/** The columns every page statement returns, as the store reads them. */
export interface SearchRow {
  id: string;
  version_id: string;
  last_updated: Date;
  content: Buffer | null;
}

function whereClause(query: SearchQuery, p: SqlParams, driven?: DrivenSort | null): string {
  const conditions = ['r.tenant_id = $1', 'r.resource_type = $2', 'NOT r.deleted'];
  const covered = driven?.covered;
  const scope = scopeOf(query);
  for (const c of query.criteria) conditions.push(c === covered?.criterion ? covered.condition : criterionCondition(c, p, scope));
  if (query.compartment) conditions.push(compartmentCondition(query.compartment, query.resourceType, p));
  if (query.alsoIn) conditions.push(compartmentCondition(query.alsoIn, query.resourceType, p));
  if (query.restrict) conditions.push(restrictCondition(query.restrict, p, scope));
  return conditions.join('\n  AND ');
}

/** Access-policy filter: a resource passes when it matches every criterion of at least one group. */
function restrictCondition(groups: Criterion[][], p: SqlParams, scope: Scope): string {
  if (groups.length === 0) return 'FALSE';
  const ors = groups.map((g) => (g.length === 0 ? 'TRUE' : g.map((c) => criterionCondition(c, p, scope)).join(' AND ')));
  return `((${ors.join(') OR (')}))`;
}

/** One page: LIMIT count+1 so the caller learns whether a next page exists without counting. */
export function compileSearch(query: SearchQuery, tenant: string): CompiledSql {
  const p = createSqlParams([tenant, query.resourceType]);
  const driven = drivenSort(query.sort[0], query.criteria, p);
  const where = whereClause(query, p, driven);
  const keys = driven ? query.sort.slice(1) : query.sort;
  const order = [...(driven ? [driven.order] : []), ...keys.map((k) => sortKeyExpression(k, p))];
  if (!query.sort.some((k) => k.kind === 'id')) order.push('r.id ASC');
  const from = driven
    ? `${driven.join}\nJOIN resource r ON r.tenant_id = s.tenant_id AND r.resource_type = s.resource_type AND r.id = s.resource_id`
    : 'resource r';
  const sql = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM ${from}
WHERE ${driven ? `${driven.where}\n  AND ` : ''}${where}
ORDER BY ${order.join(', ')}
LIMIT ${p.add(query.count + 1, 'bigint')} OFFSET ${p.add(query.offset, 'bigint')}`;
  return { sql, params: p.values };
}

/** `_total=accurate`: returns one row `{ total: string }` (bigint as text). */
export function compileCount(query: SearchQuery, tenant: string): CompiledSql {
  const p = createSqlParams([tenant, query.resourceType]);
  const where = whereClause(query, p);
  return { sql: `SELECT count(*) AS total FROM resource r WHERE ${where}`, params: p.values };
}

/** `_total=estimate`: the planner's row estimate; read it with `readEstimate`. */
export function compileEstimate(query: SearchQuery, tenant: string): CompiledSql {
  const { sql, params } = compileCount(query, tenant);
  return { sql: `EXPLAIN (FORMAT JSON) ${sql.replace('SELECT count(*) AS total', 'SELECT 1')}`, params };
}

/** The estimated row count from the result rows of `compileEstimate`'s statement. */
export function readEstimate(rows: Record<string, unknown>[]): number {
  const plan = rows[0]?.['QUERY PLAN'] as [{ Plan: { 'Plan Rows': number } }] | string | undefined;
  const parsed = typeof plan === 'string' ? (JSON.parse(plan) as [{ Plan: { 'Plan Rows': number } }]) : plan;
  const estimate = parsed?.[0]?.Plan['Plan Rows'];
  return typeof estimate === 'number' ? Math.round(estimate) : 0;
}
