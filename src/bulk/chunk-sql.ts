import type { CompiledQuery } from '../store/index.js';
import { associatedCursor, associatedPageSql } from './associated-sql.js';
import { exportedConditions, pageParams, type ChunkSqlContext } from './export-conditions.js';
import type { ExportParams, ChunkPayload } from './model.js';
import { scopedPatients, scopedRows } from './patient-scope.js';

/** One keyset page of a chunk: exported rows of one type in (cursor, upTo]; or, for associated data, their Provenance. */
export async function chunkPageSql(
  ctx: ChunkSqlContext,
  tenant: string,
  job: { transactionTime: Date; params: ExportParams },
  chunk: ChunkPayload,
  cursor: string,
  pageSize: number,
): Promise<CompiledQuery> {
  if (chunk.associated) return associatedPageSql(ctx, tenant, job, chunk, cursor, pageSize);
  const { params, add, refs } = pageParams(tenant, chunk.type, job.transactionTime, cursor, pageSize);
  const where = await exportedConditions(ctx, tenant, job, chunk.type, refs, add);
  const upTo = chunk.upTo === null ? null : add(chunk.upTo);
  const bounds = (column: string) => [`${column} > $4`, ...(upTo ? [`${column} <= ${upTo}`] : [])];
  where.push(...bounds('r.id'));
  const patients = scopedPatients(job.params);
  const from = patients ? scopedRows(ctx, chunk.type, refs.type, patients, add, bounds) : 'resource r';
  // Only what the writer uses: a timestamptz column costs a Date parse per row in the driver.
  const sql = `SELECT r.resource_type, r.id, r.version_id, r.content
FROM ${from} WHERE ${where.join(' AND ')} ORDER BY r.id LIMIT $5`;
  return { sql, params };
}

/** The cursor of the page after the one that ended with `row`. */
export function nextCursor(chunk: ChunkPayload, row: { id: string; target_id?: string }): string {
  return chunk.associated ? associatedCursor(row) : row.id;
}
