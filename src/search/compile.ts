/**
 * SearchQuery → one SQL statement per page. `$1` is always the tenant and `$2`
 * the resource type. Sorting: see compile-sort.ts.
 */
import type { Criterion, SearchQuery } from './query.js';
import { criterionCondition, scopeOf } from './compile-criterion.js';
import { drivenSort, sortKeyExpression } from './compile-sort.js';
import { candidateIds, hasLastSplit } from './has-last.js';
import { whereClause } from './compile-where.js';
import { createSqlParams } from './sql-params.js';
import { hasValueFreePlan, type CommonTargets } from './plan-stability.js';

export interface CompiledSql {
  sql: string;
  params: unknown[];
  /** Its plan does not depend on its values: it may run with a generic plan (plan-stability.ts). */
  stablePlan?: true;
}

/** The columns every page statement returns, as the store reads them. */
export interface SearchRow {
  id: string;
  version_id: string;
  last_updated: Date;
  content: Buffer | null;
}

export interface CompileOptions {
  /**
   * Probe `_has` criteria last, over the other criteria's matches in id order,
   * stopping after one page (has-last.ts says when; the caller decides from
   * the planner's estimates, `compileHasLastEstimate`). Ignored when the
   * query does not qualify.
   */
  hasLast?: boolean;
  /** Reference targets whose pages need custom plans (plan-stability.ts); none when absent. */
  commonTargets?: CommonTargets;
}

/** One page: LIMIT count+1 so the caller learns whether a next page exists without counting. */
export function compileSearch(query: SearchQuery, tenant: string, options: CompileOptions = {}): CompiledSql {
  const split = options.hasLast ? hasLastSplit(query) : null;
  if (split) return compileHasLast(query, split, tenant);
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
  return { sql, params: p.values, ...(hasValueFreePlan(query, options.commonTargets) ? { stablePlan: true } : {}) };
}

/**
 * The page with `_has` probed last: the other criteria's matches, ids only,
 * sorted in a fenced subquery (`OFFSET 0` keeps PostgreSQL from merging it
 * into the outer query), then per candidate, in that order, a fenced LATERAL
 * that reads its row and runs the `_has` semi-joins, so the nested loop stops
 * after `count + 1` matches instead of probing every candidate before a top-N
 * sort. Both fences matter: unfenced, PostgreSQL may hash-join the candidates
 * back to `resource`, which loses their order and brings the sort back (seen
 * on a 3,000-patient store). Same rows, same order (by id).
 */
function compileHasLast(query: SearchQuery, split: { has: Criterion[]; rest: Criterion[] }, tenant: string): CompiledSql {
  const p = createSqlParams([tenant, query.resourceType]);
  const candidates = candidateIds(query, split.rest, p);
  const scope = scopeOf(query);
  const probes = split.has.map((c) => criterionCondition(c, p, scope));
  const sql = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM (${candidates}) c
CROSS JOIN LATERAL (SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content FROM resource r
  WHERE r.tenant_id = $1 AND r.resource_type = $2 AND r.id = c.id AND NOT r.deleted
  AND ${probes.join('\n  AND ')} OFFSET 0) r
ORDER BY c.id ASC
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
