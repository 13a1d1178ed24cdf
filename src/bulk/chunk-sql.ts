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
interface Refs {
  tenant: string;
  type: string;
  time: string;
}

/**
 * What makes a row (alias r) of `type` part of the export: current, not
 * deleted, last updated at or before the job's transactionTime, and the job's
 * filters (since, patient compartment, type filters). Shared by the chunks and
 * the associated-data query, so "exported" means the same in both.
 */
async function exportedConditions(ctx: ChunkSqlContext, tenant: string, job: { params: ExportParams }, type: string, refs: Refs, add: (v: unknown) => string): Promise<string[]> {
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

/** One keyset page of a chunk: exported rows of one type in (cursor, upTo]. */
export async function chunkPageSql(
  ctx: ChunkSqlContext,
  tenant: string,
  job: { transactionTime: Date; params: ExportParams },
  chunk: ChunkPayload,
  cursor: string,
  pageSize: number,
): Promise<CompiledQuery> {
  if (chunk.associated) return associatedPageSql(ctx, tenant, job, chunk, cursor, pageSize);
  const params: unknown[] = [tenant, chunk.type, job.transactionTime, cursor, pageSize];
  const add = (v: unknown) => `$${params.push(v)}`;
  const where = await exportedConditions(ctx, tenant, job, chunk.type, { tenant: '$1', type: '$2', time: '$3' }, add);
  where.push('r.id > $4');
  if (chunk.upTo !== null) where.push(`r.id <= ${add(chunk.upTo)}`);
  const sql = `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM resource r WHERE ${where.join(' AND ')} ORDER BY r.id LIMIT $5`;
  return { sql, params };
}

/** Provenance.recorded of q (indexed as the `recorded` date), or its lastUpdated if it has none. */
const recorded = (q: string) =>
  `coalesce((SELECT min(d.low) FROM idx_date d WHERE d.tenant_id = ${q}.tenant_id AND d.resource_type = 'Provenance' AND d.resource_id = ${q}.id AND d.param = 'recorded'), ${q}.last_updated)`;

/**
 * Patients named in the audit entry of an associated-data file: those the
 * Provenance targets, directly or as the subject/patient of a target (the
 * audit module's notion of a resource's patient).
 */
const targetPatients = `ARRAY(
  SELECT t.target_id FROM idx_reference t WHERE t.tenant_id = p.tenant_id AND t.resource_type = 'Provenance' AND t.resource_id = p.id AND t.param = 'target' AND t.target_type = 'Patient'
  UNION
  SELECT s.target_id FROM idx_reference t JOIN idx_reference s ON s.tenant_id = t.tenant_id AND s.resource_type = t.target_type AND s.resource_id = t.target_id
  WHERE t.tenant_id = p.tenant_id AND t.resource_type = 'Provenance' AND t.resource_id = p.id AND t.param = 'target'
    AND s.param IN ('subject', 'patient') AND s.target_type = 'Patient') AS patients`;

/**
 * One keyset page of the associated data (includeAssociatedData): current
 * Provenance rows (alias p) in the snapshot whose `target` is an exported
 * resource of another type — the same conditions as the chunks, repeated per
 * target type. `latest`: only a Provenance that is the most recent (by
 * `recorded`, then id) of those targeting that resource. A Provenance the
 * export already holds as a type of its own is left out, so none is exported twice.
 */
async function associatedPageSql(
  ctx: ChunkSqlContext,
  tenant: string,
  job: { transactionTime: Date; params: ExportParams },
  chunk: ChunkPayload,
  cursor: string,
  pageSize: number,
): Promise<CompiledQuery> {
  const params: unknown[] = [tenant, 'Provenance', job.transactionTime, cursor, pageSize];
  const add = (v: unknown) => `$${params.push(v)}`;
  const branches: string[] = [];
  for (const type of chunk.targets ?? []) {
    const typeRef = add(type);
    const conditions = await exportedConditions(ctx, tenant, job, type, { tenant: '$1', type: typeRef, time: '$3' }, add);
    branches.push(`(x.target_type = ${typeRef} AND EXISTS (SELECT 1 FROM resource r WHERE ${conditions.join(' AND ')} AND r.id = x.target_id))`);
  }
  const latest =
    chunk.associated !== 'latest'
      ? ''
      : `
    AND NOT EXISTS (SELECT 1 FROM idx_reference y JOIN resource q ON q.tenant_id = y.tenant_id AND q.resource_type = y.resource_type AND q.id = y.resource_id
      WHERE y.tenant_id = x.tenant_id AND y.resource_type = $2 AND y.param = 'target' AND y.target_type = x.target_type AND y.target_id = x.target_id
        AND NOT q.deleted AND q.last_updated <= $3 AND (${recorded('q')}, q.id) > (${recorded('p')}, p.id))`;
  const where = ['p.tenant_id = $1', 'p.resource_type = $2', 'NOT p.deleted', 'p.last_updated <= $3', 'p.id > $4'];
  if (chunk.upTo !== null) where.push(`p.id <= ${add(chunk.upTo)}`);
  // Scalar subqueries (`(SELECT 1 … LIMIT 1) IS NOT NULL`), not EXISTS: PostgreSQL turns a top-level
  // EXISTS into a semi-join and planned it as a hash join over every target of every Provenance, for
  // each page (O(pages × rows): 45 s for 100,000 rows); a subplan runs per Provenance row in id order
  // and the page stops at its LIMIT, so a chunk costs one pass over its Provenance ids.
  where.push(`(SELECT 1 FROM idx_reference x WHERE x.tenant_id = p.tenant_id AND x.resource_type = $2 AND x.resource_id = p.id AND x.param = 'target'
    AND (${branches.length > 0 ? branches.join('\n      OR ') : 'false'})${latest} LIMIT 1) IS NOT NULL`);
  if (job.params.types.includes('Provenance')) {
    const own = await exportedConditions(ctx, tenant, job, 'Provenance', { tenant: '$1', type: '$2', time: '$3' }, add);
    where.push(`(SELECT 1 FROM resource r WHERE ${own.join(' AND ')} AND r.id = p.id LIMIT 1) IS NULL`);
  }
  const sql = `SELECT p.resource_type, p.id, p.version_id, p.last_updated, p.deleted, p.content, ${targetPatients}
FROM resource p WHERE ${where.join('\n  AND ')} ORDER BY p.id LIMIT $5`;
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
