import type { Db } from '../store/index.js';
import type { ChunkSqlContext } from './export-conditions.js';
import { chunksFromBoundaries, type ChunkPayload, type ExportParams } from './model.js';

/**
 * Patient- and Group-level exports limited to named patients (POST `patient`,
 * a Group's members): the rows come from the patients' compartments, found
 * through the reference index (idx_reference_lookup: type, param, target), not
 * from every id of each type filtered row by row. So planning and every page
 * cost what the export holds: a one-patient export of a million-resource store
 * reads that patient's rows, not the store's. Exports of all patients (no
 * list) span most of the store and keep the plain id-ordered pass.
 */

/** The patients an export is limited to, if any. */
export function scopedPatients(params: Pick<ExportParams, 'level' | 'patients'>): string[] | undefined {
  return params.level !== 'system' && params.level !== 'import' ? params.patients : undefined;
}

/**
 * The rows of `type` (SQL expression) in the compartments of `patients`, as a
 * FROM item binding `r`, with `bounds` (conditions on the id column, e.g. the
 * keyset range) applied inside the index lookup so a page reads only its
 * range. Patients themselves come from the list.
 */
export function scopedRows(ctx: ChunkSqlContext, type: string, typeRef: string, patients: string[], add: (v: unknown) => string, bounds: (column: string) => string[]): string {
  const byKey = `CROSS JOIN LATERAL (SELECT * FROM resource k WHERE k.tenant_id = $1 AND k.resource_type = ${typeRef} AND k.id = s.id OFFSET 0) r`;
  if (type === 'Patient') return `(SELECT DISTINCT p AS id FROM unnest(${add(patients)}::text[]) p WHERE ${bounds('p').join(' AND ')}) s\n  ${byKey}`;
  const ids = [
    'x.tenant_id = $1',
    `x.resource_type = ${typeRef}`,
    `x.param = ANY(${add([...ctx.patientParams(type)])}::text[])`,
    `x.target_id = ANY(${add(patients)}::text[])`,
    `x.target_type = 'Patient'`,
    ...bounds('x.resource_id'),
  ];
  // The ids first (DISTINCT: a resource may link to a patient twice, e.g. subject and performer), then
  // each row by primary key. OFFSET 0 keeps the LATERAL from being flattened into a join, which
  // PostgreSQL may run as a scan of every row of the type in the range hashed against the ids.
  return `(SELECT DISTINCT x.resource_id AS id FROM idx_reference x WHERE ${ids.join(' AND ')}) s\n  ${byKey}`;
}

/**
 * Chunk boundaries of a patient-limited export: every N-th id per type among
 * the rows in the patients' compartments (N = the file limit), from the
 * reference index. Same shape as the system plan, so chunks, files, resume
 * and associated data work unchanged.
 */
export async function planScopedChunks(
  db: Db,
  ctx: ChunkSqlContext,
  tenant: string,
  params: Pick<ExportParams, 'types' | 'since'>,
  patients: string[],
  transactionTime: Date,
  maxFileResources: number,
): Promise<ChunkPayload[]> {
  const links = params.types.filter((t) => t !== 'Patient').flatMap((t) => ctx.patientParams(t).map((p) => [t, p] as const));
  const res = await db.query<{ resource_type: string; id: string; last: boolean }>(
    `WITH scope AS (
       SELECT DISTINCT x.resource_type, x.resource_id AS id
       FROM unnest($2::text[], $3::text[]) AS l(type, param)
       JOIN idx_reference x ON x.tenant_id = $1 AND x.resource_type = l.type AND x.param = l.param
         AND x.target_id = ANY($4::text[]) AND x.target_type = 'Patient'
       UNION
       SELECT 'Patient', p FROM unnest($4::text[]) AS p WHERE 'Patient' = ANY($5::text[]))
     SELECT resource_type, id, rn = cnt AS last FROM (
       SELECT r.resource_type, r.id, row_number() OVER w AS rn, count(*) OVER (PARTITION BY r.resource_type) AS cnt
       FROM scope s JOIN resource r ON r.tenant_id = $1 AND r.resource_type = s.resource_type AND r.id = s.id
       WHERE NOT r.deleted AND r.last_updated <= $6 AND ($7::timestamptz IS NULL OR r.last_updated > $7)
       WINDOW w AS (PARTITION BY r.resource_type ORDER BY r.id)) q
     WHERE rn % $8 = 0 OR rn = cnt ORDER BY resource_type, id`,
    [tenant, links.map((l) => l[0]), links.map((l) => l[1]), patients, params.types, transactionTime, params.since ?? null, maxFileResources],
  );
  return chunksFromBoundaries(res.rows);
}
