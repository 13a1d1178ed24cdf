/**
 * System-level search (`GET /fhir?_type=Patient,Observation&…`): one
 * SearchQuery per type (same parameters, parsed per type) → ONE statement,
 * a UNION ALL of per-type branches ordered and paged together.
 *
 * Every criterion is compiled by compile-criterion.ts, whose contract is
 * "`$1` is the tenant and `$2` the resource type". The first branch's type is
 * `$2`; in the other branches the `$2` placeholders of the freshly generated
 * text are rewritten to that branch's own type parameter. Values never enter
 * the SQL text, so a placeholder is the only `$2` there is.
 *
 * Each branch is limited to offset+count+1 rows in the page's order, so the
 * outer sort touches at most that many rows per type.
 */
import type { CompiledSql } from './compile.js';
import { criterionCondition, scopeOf } from './compile-criterion.js';
import { compartmentCondition } from './compartment.js';
import { sortKeyExpression } from './compile-sort.js';
import type { SearchQuery } from './query.js';
import { createSqlParams } from './sql-params.js';
import type { SqlParams } from './sql-params.js';

const TYPE_PLACEHOLDER = /\$2(?!\d)/g;

interface Branch {
  where: string;
  keys: { expr: string; dir: string }[];
}

function splitDirection(key: string): { expr: string; dir: string } {
  const m = /\s+((?:ASC|DESC)(?: NULLS LAST)?)$/.exec(key);
  return m ? { expr: key.slice(0, m.index), dir: m[1]! } : { expr: key, dir: 'ASC' };
}

function branchOf(q: SearchQuery, index: number, p: SqlParams): Branch {
  const typeRef = index === 0 ? '$2' : p.add(q.resourceType);
  const conditions = ['r.tenant_id = $1', 'r.resource_type = $2', 'NOT r.deleted', ...q.criteria.map((c) => criterionCondition(c, p, scopeOf(q)))];
  if (q.compartment) conditions.push(compartmentCondition(q.compartment, q.resourceType, p));
  if (q.alsoIn) conditions.push(compartmentCondition(q.alsoIn, q.resourceType, p));
  const keys = q.sort.map((k) => splitDirection(sortKeyExpression(k, p)));
  const retype = (s: string) => (index === 0 ? s : s.replace(TYPE_PLACEHOLDER, typeRef));
  return { where: retype(conditions.join(' AND ')), keys: keys.map((k) => ({ expr: retype(k.expr), dir: k.dir })) };
}

function branches(queries: readonly SearchQuery[], tenant: string): { p: SqlParams; list: Branch[] } {
  const first = queries[0];
  if (!first) throw new Error('system search needs at least one type');
  const p = createSqlParams([tenant, first.resourceType]);
  return { p, list: queries.map((q, i) => branchOf(q, i, p)) };
}

/** One page across types; paging and sort come from the first query (all share them). */
export function compileSystemSearch(queries: readonly SearchQuery[], tenant: string): CompiledSql {
  const { p, list } = branches(queries, tenant);
  const head = queries[0]!;
  const perBranch = p.add(head.offset + head.count + 1, 'bigint');
  const parts = list.map((b) => {
    const cols = b.keys.map((k, i) => `, ${k.expr} AS k${i}`).join('');
    const order = [...b.keys.map((k) => `${k.expr} ${k.dir}`), 'r.resource_type ASC', 'r.id ASC'].join(', ');
    return `(SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content${cols}
  FROM resource r WHERE ${b.where}
  ORDER BY ${order} LIMIT ${perBranch})`;
  });
  const outer = [...(list[0]?.keys ?? []).map((k, i) => `u.k${i} ${k.dir}`), 'u.resource_type ASC', 'u.id ASC'].join(', ');
  const sql = `SELECT u.resource_type, u.id, u.version_id, u.last_updated, u.deleted, u.content
FROM (${parts.join('\nUNION ALL\n')}) u
ORDER BY ${outer}
LIMIT ${p.add(head.count + 1, 'bigint')} OFFSET ${p.add(head.offset, 'bigint')}`;
  return { sql, params: p.values };
}

/** `_total=accurate` across types: one row `{ total }`. */
export function compileSystemCount(queries: readonly SearchQuery[], tenant: string): CompiledSql {
  const { p, list } = branches(queries, tenant);
  const sums = list.map((b) => `(SELECT count(*) FROM resource r WHERE ${b.where})`);
  return { sql: `SELECT ${sums.join(' + ')} AS total`, params: p.values };
}
