import type { CompiledQuery } from '../store/index.js';
import { exportedConditions, pageParams, type ChunkSqlContext } from './export-conditions.js';
import type { ChunkPayload, ExportParams } from './model.js';
import { scopedPatients, scopedRows } from './patient-scope.js';

/**
 * includeAssociatedData: the Provenance of the exported resources, found from
 * those resources through the `target` search index of Provenance, one chunk
 * of exported resources at a time. So the pass costs what the export holds —
 * an index probe per exported resource and a row per Provenance found — not a
 * scan of every Provenance of the tenant.
 */

/** Where an associated page starts: after (target id, Provenance id), in that order. */
interface AssociatedCursor {
  target: string;
  provenance: string;
}

/** The keyset cursor after `row`: the target it was found through, then its own id. */
export function associatedCursor(row: { id: string; target_id?: string }): string {
  return JSON.stringify([row.target_id ?? '', row.id]);
}

function parseCursor(chunk: ChunkPayload, cursor: string): AssociatedCursor {
  if (cursor.startsWith('[')) {
    const [target, provenance] = JSON.parse(cursor) as [string, string];
    return { target, provenance };
  }
  return { target: chunk.after ?? '', provenance: '' }; // the chunk's start
}

/** Provenance.recorded of q (indexed as the `recorded` date), or its lastUpdated if it has none. */
const recorded = (q: string) =>
  `coalesce((SELECT min(d.low) FROM idx_date d WHERE d.tenant_id = ${q}.tenant_id AND d.resource_type = 'Provenance' AND d.resource_id = ${q}.id AND d.param = 'recorded'), ${q}.last_updated)`;

/** Current Provenance q in the snapshot that targets `type`/`id` (SQL expressions), joined through the index. */
const provenanceOf = (type: string, id: string, alias: string) => `idx_reference ${alias}i JOIN resource ${alias} ON ${alias}.tenant_id = ${alias}i.tenant_id
      AND ${alias}.resource_type = ${alias}i.resource_type AND ${alias}.id = ${alias}i.resource_id
    WHERE ${alias}i.tenant_id = $1 AND ${alias}i.resource_type = $2 AND ${alias}i.param = 'target' AND ${alias}i.target_id = ${id} AND ${alias}i.target_type = ${type}
      AND NOT ${alias}.deleted AND ${alias}.last_updated <= $3`;

/** No Provenance targeting `type`/`id` is more recent than p: p is its latest. */
const latestFor = (type: string, id: string) => `NOT EXISTS (SELECT 1 FROM ${provenanceOf(type, id, 'n')} AND (${recorded('n')}, n.id) > (${recorded('p')}, p.id))`;

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
 * One keyset page of an associated chunk: for each exported resource r of the
 * chunk (type `targetType`, ids in (after, upTo], the same conditions as its
 * own chunk), the current Provenance p in the snapshot that target it — all of
 * them (relevant), or the most recent by `recorded`, then id (latest).
 *
 * No duplicates: a Provenance that targets several exported resources is
 * written only with the first of them in (type, id) order — its "owner" — so
 * exactly one chunk holds it, whichever node runs which chunk. (For latest, the
 * first of those it is the latest for.) A Provenance the export already holds
 * as a type of its own is left out.
 */
export async function associatedPageSql(
  ctx: ChunkSqlContext,
  tenant: string,
  job: { transactionTime: Date; params: ExportParams },
  chunk: ChunkPayload,
  cursor: string,
  pageSize: number,
): Promise<CompiledQuery> {
  // A task queued by a version that chunked the Provenance by their own ids has no targetType:
  // fail it (and so the export, visibly) rather than write an empty file.
  if (!chunk.targetType) throw new Error('associated-data task without targetType (queued by an earlier version); start the export again');
  const at = parseCursor(chunk, cursor);
  const { params, add, refs } = pageParams(tenant, 'Provenance', job.transactionTime, at.target, pageSize);
  const targetType = add(chunk.targetType);
  const exported = await exportedConditions(ctx, tenant, job, chunk.targetType, { ...refs, type: targetType }, add);
  const after = chunk.after === null ? null : add(chunk.after);
  const upTo = chunk.upTo === null ? null : add(chunk.upTo);
  const bounds = (column: string) => [`${column} >= $4`, ...(after ? [`${column} > ${after}`] : []), ...(upTo ? [`${column} <= ${upTo}`] : [])];
  const where = [...exported, ...bounds('r.id'), `(r.id, p.id) > ($4, ${add(at.provenance)})`];
  const patients = scopedPatients(job.params);
  const rows = patients ? scopedRows(ctx, chunk.targetType, targetType, patients, add, bounds) : 'resource r';
  where.push(await ownedHere(ctx, tenant, job, chunk, targetType, add));
  if (job.params.types.includes('Provenance')) {
    const own = await exportedConditions(ctx, tenant, job, 'Provenance', refs, add);
    where.push(`(SELECT 1 FROM resource r WHERE ${own.join(' AND ')} AND r.id = p.id LIMIT 1) IS NULL`);
  }
  // Per exported resource r (in id order, so a page stops at its LIMIT), the Provenance p found
  // through the index: all of them, once each (relevant), or the first in (recorded, id) descending (latest).
  // A LATERAL subquery keeps that shape: as a plain join PostgreSQL hashed every target of the chunk for each page.
  const columns = 'q.tenant_id, q.resource_type, q.id, q.version_id, q.last_updated, q.deleted, q.content';
  const found =
    chunk.associated === 'latest'
      ? `SELECT ${columns} FROM ${provenanceOf(targetType, 'r.id', 'q')} ORDER BY ${recorded('q')} DESC, q.id DESC LIMIT 1`
      : `SELECT DISTINCT ON (q.id) ${columns} FROM ${provenanceOf(targetType, 'r.id', 'q')} ORDER BY q.id`;
  const sql = `SELECT p.resource_type, p.id, p.version_id, p.content, r.id AS target_id, ${targetPatients}
FROM ${rows} CROSS JOIN LATERAL (${found}) p
WHERE ${where.join('\n  AND ')}
ORDER BY r.id, p.id LIMIT $5`;
  return { sql, params };
}

/**
 * p is written with r (of type `targetType`) unless one of its other targets
 * comes first in (type, id) order and is exported too (and, for latest, has p
 * as its latest). Index lookups per Provenance found: most have one target.
 */
async function ownedHere(
  ctx: ChunkSqlContext,
  tenant: string,
  job: { params: ExportParams },
  chunk: ChunkPayload,
  targetType: string,
  add: (v: unknown) => string,
): Promise<string> {
  const branches: string[] = [];
  for (const type of chunk.targets ?? []) {
    const typeRef = add(type);
    const conditions = await exportedConditions(ctx, tenant, job, type, { tenant: '$1', type: typeRef, time: '$3' }, add);
    branches.push(`(o.target_type = ${typeRef} AND EXISTS (SELECT 1 FROM resource r WHERE ${conditions.join(' AND ')} AND r.id = o.target_id))`);
  }
  const latest = chunk.associated === 'latest' ? `\n      AND ${latestFor('o.target_type', 'o.target_id')}` : '';
  // A scalar subquery, not NOT EXISTS: as an anti-join PostgreSQL checked the (type, id) order only
  // after the branches' lookups; as a subplan it filters the index rows on it first.
  return `(SELECT 1 FROM idx_reference o WHERE o.tenant_id = p.tenant_id AND o.resource_type = $2 AND o.resource_id = p.id AND o.param = 'target'
      AND (o.target_type, o.target_id) < (${targetType}::text, r.id)
      AND (${branches.length > 0 ? branches.join('\n        OR ') : 'false'})${latest} LIMIT 1) IS NULL`;
}
