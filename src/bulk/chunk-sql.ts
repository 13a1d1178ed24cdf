import { compileCount, parseSearch } from '../search/index.js';
import type { SearchParamRegistry } from '../fhir/index.js';
import type { CompiledQuery } from '../store/index.js';
import { blindPrepared, type SearchBlinding } from '../store/search-blind.js';
import type { ExportParams, ChunkPayload } from './model.js';

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
 * Re-numbers a compiled filter's placeholders into the chunk query. The
 * compiler binds every value ($1 tenant, $2 type, $3… values), so the SQL text
 * holds no `$n` other than placeholders; $1 and $2 are the chunk's own.
 */
function renumber(sql: string, base: number): string {
  return sql.replace(/\$(\d+)\b/g, (_m, n: string) => (Number(n) <= 2 ? `$${n}` : `$${Number(n) - 2 + base}`));
}

/**
 * One keyset page of a chunk: current, non-deleted rows of one type in
 * (cursor, upTo], last updated at or before the job's transactionTime, and
 * the job's filters (since, patient compartment, type filters).
 */
export async function chunkPageSql(
  ctx: ChunkSqlContext,
  tenant: string,
  job: { transactionTime: Date; params: ExportParams },
  chunk: ChunkPayload,
  cursor: string,
  pageSize: number,
): Promise<CompiledQuery> {
  const params: unknown[] = [tenant, chunk.type, job.transactionTime, cursor, pageSize];
  const add = (v: unknown) => `$${params.push(v)}`;
  const where = ['r.tenant_id = $1', 'r.resource_type = $2', 'NOT r.deleted', 'r.last_updated <= $3', 'r.id > $4'];
  if (chunk.upTo !== null) where.push(`r.id <= ${add(chunk.upTo)}`);
  const p = job.params;
  if (p.since) where.push(`r.last_updated > ${add(new Date(p.since))}`);
  if (p.level !== 'system') where.push(...compartmentCondition(ctx, chunk.type, p.patients, add));
  const filters = p.typeFilters.map(splitTypeFilter).filter((f) => f.type === chunk.type);
  if (filters.length > 0) {
    const ors: string[] = [];
    for (const f of filters) {
      const compiled = await filterSql(ctx, f.type, f.query, tenant);
      const base = params.length;
      params.push(...compiled.params.slice(2));
      ors.push(`(${renumber(compiled.sql, base)})`);
    }
    where.push(`(${ors.join(' OR ')})`);
  }
  const sql = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM resource r WHERE ${where.join(' AND ')} ORDER BY r.id LIMIT $5`;
  return { sql, params };
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
