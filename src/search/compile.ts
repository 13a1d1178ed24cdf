/**
 * SearchQuery → one SQL statement per page. `$1` is always the tenant and `$2`
 * the resource type. Sorting by a search parameter uses, per resource, the
 * smallest value ascending and the largest descending (dates: min(low) /
 * max(high)); resources without a value sort last either way; `r.id` breaks
 * ties so pages are stable.
 */
import type { SearchQuery, SortKey } from './query.js';
import { criterionCondition, tableOf } from './compile-criterion.js';
import { createSqlParams } from './sql-params.js';
import type { SqlParams } from './sql-params.js';

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

const sortColumn: Record<Exclude<SortKey['kind'], 'id' | 'lastUpdated'>, [string, string]> = {
  string: ['value_norm', 'value_norm'],
  token: ['code', 'code'],
  date: ['low', 'high'],
  number: ['value', 'value'],
  quantity: ['value', 'value'],
  reference: ["coalesce(i.target_type || '/' || i.target_id, i.url)", "coalesce(i.target_type || '/' || i.target_id, i.url)"],
  uri: ['value', 'value'],
};

function sortExpression(key: SortKey, p: SqlParams): string {
  const dir = key.descending ? 'DESC' : 'ASC';
  if (key.kind === 'id') return `r.id ${dir}`;
  if (key.kind === 'lastUpdated') return `r.last_updated ${dir}`;
  const [asc, desc] = sortColumn[key.kind];
  const column = key.descending ? desc : asc;
  const qualified = column.includes('(') ? column : `i.${column}`;
  const agg = key.descending ? 'max' : 'min';
  return `(SELECT ${agg}(${qualified}) FROM ${tableOf[key.kind]} i WHERE i.tenant_id = r.tenant_id AND i.resource_type = r.resource_type AND i.resource_id = r.id AND i.param = ${p.add(key.param)}) ${dir} NULLS LAST`;
}

function whereClause(query: SearchQuery, p: SqlParams): string {
  const conditions = ['r.tenant_id = $1', 'r.resource_type = $2', 'NOT r.deleted'];
  for (const c of query.criteria) conditions.push(criterionCondition(c, p));
  return conditions.join('\n  AND ');
}

/** One page: LIMIT count+1 so the caller learns whether a next page exists without counting. */
export function compileSearch(query: SearchQuery, tenant: string): CompiledSql {
  const p = createSqlParams([tenant, query.resourceType]);
  const where = whereClause(query, p);
  const order = query.sort.map((k) => sortExpression(k, p));
  if (!query.sort.some((k) => k.kind === 'id')) order.push('r.id ASC');
  const sql = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM resource r
WHERE ${where}
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
