import { compileCount, parseSearch } from '../search/index.js';
import type { SearchParamRegistry } from '../fhir/index.js';
import type { CompiledQuery } from '../store/index.js';
import { blindPrepared, type SearchBlinding } from '../store/search-blind.js';
import type { ExportParams } from './model.js';

/** What the chunk query needs from the FHIR definitions. */
export interface ChunkSqlContext {
  registry: SearchParamRegistry;
  normalize: (s: string) => string;
  /** Search parameters that put `type` in the Patient compartment. */
  patientParams(type: string): readonly string[];
  /** Blind indexes: protected filter values are matched by HMAC tag, as in search (docs/security/encryption.md). */
  blind?: SearchBlinding;
}

/**
 * `_typeFilter=Observation?code=…` → the WHERE clause of that search, run by
 * the search compiler itself, so an export with a filter holds exactly what
 * the search would return. Throws the search's own 400 for a bad filter.
 */
export async function filterSql(ctx: ChunkSqlContext, type: string, query: string, tenant: string): Promise<CompiledQuery> {
  const pairs = [...new URLSearchParams(query)].filter(([k]) => !['_count', '_sort', '_total', '_summary', '_elements', '_offset'].includes(k));
  const parsed = parseSearch(type, pairs, ctx.registry, { strict: true, normalize: ctx.normalize });
  const [blinded] = (await blindPrepared(ctx.blind, tenant, { queries: [parsed] })).queries;
  const { sql, params } = compileCount(blinded ?? parsed, tenant);
  // The count statement is `SELECT count(*) AS total FROM resource r WHERE <conditions on r>`:
  // its conditions are ANDed into the chunk query on the same row alias (a self-join
  // `r.id IN (…)` instead was planned as a nested loop: 10 s for 500 rows).
  const where = sql.indexOf(' WHERE ');
  return { sql: sql.slice(where + ' WHERE '.length), params };
}

/** Splits `Observation?code=x` into its type and query. */
export function splitTypeFilter(filter: string): { type: string; query: string } {
  const q = filter.indexOf('?');
  return q < 0 ? { type: filter, query: '' } : { type: filter.slice(0, q), query: filter.slice(q + 1) };
}

/**
 * Binds a compiled filter's placeholders into another query. The compiler
 * binds every value ($1 tenant, $2 type, $3… values), so the SQL text holds no
 * `$n` other than placeholders; $1 and $2 become the host query's own
 * tenant and type placeholders, the others new parameters.
 */
function bindFilter(compiled: CompiledQuery, refs: { tenant: string; type: string }, add: (v: unknown) => string): string {
  const bound = new Map<number, string>();
  return compiled.sql.replace(/\$(\d+)\b/g, (_m, text: string) => {
    const n = Number(text);
    if (n === 1) return refs.tenant;
    if (n === 2) return refs.type;
    if (!bound.has(n)) bound.set(n, add(compiled.params[n - 1]));
    return bound.get(n)!;
  });
}

/** Placeholders of the host query: the tenant, the row type and the job's transactionTime. */
export interface Refs {
  tenant: string;
  type: string;
  time: string;
}

/**
 * The parameter list every page query starts with — $1 tenant, $2 row type,
 * $3 transactionTime, $4 keyset cursor, $5 page size — and `add`, which
 * appends a value and returns its placeholder.
 */
export function pageParams(tenant: string, type: string, time: Date, cursor: string, pageSize: number) {
  const params: unknown[] = [tenant, type, time, cursor, pageSize];
  const add = (v: unknown) => `$${params.push(v)}`;
  return { params, add, refs: { tenant: '$1', type: '$2', time: '$3' } satisfies Refs };
}

/**
 * What makes a row (alias r) of `type` part of the export: current, not
 * deleted, last updated at or before the job's transactionTime, and the job's
 * filters (since, patient compartment, type filters). Shared by the chunks and
 * the associated-data query, so "exported" means the same in both.
 */
export async function exportedConditions(ctx: ChunkSqlContext, tenant: string, job: { params: ExportParams }, type: string, refs: Refs, add: (v: unknown) => string): Promise<string[]> {
  const where = [`r.tenant_id = ${refs.tenant}`, `r.resource_type = ${refs.type}`, 'NOT r.deleted', `r.last_updated <= ${refs.time}`];
  const p = job.params;
  if (p.since) where.push(`r.last_updated > ${add(new Date(p.since))}`);
  if (p.level !== 'system') where.push(...compartmentCondition(ctx, type, p.patients, add));
  const filters = p.typeFilters.map(splitTypeFilter).filter((f) => f.type === type);
  if (filters.length > 0) {
    const ors: string[] = [];
    for (const f of filters) ors.push(`(${bindFilter(await filterSql(ctx, f.type, f.query, tenant), refs, add)})`);
    where.push(`(${ors.join(' OR ')})`);
  }
  return where;
}

function compartmentCondition(ctx: ChunkSqlContext, type: string, patients: string[] | undefined, add: (v: unknown) => string): string[] {
  if (type === 'Patient') return patients ? [`r.id = ANY(${add(patients)}::text[])`] : [];
  const links = ctx.patientParams(type);
  const target = patients ? ` AND x.target_id = ANY(${add(patients)}::text[])` : '';
  return [
    `EXISTS (SELECT 1 FROM idx_reference x WHERE x.tenant_id = r.tenant_id AND x.resource_type = r.resource_type
       AND x.resource_id = r.id AND x.param = ANY(${add([...links])}::text[]) AND x.target_type = 'Patient'${target})`,
  ];
}
