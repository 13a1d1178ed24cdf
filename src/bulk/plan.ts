import { randomUUID } from 'node:crypto';
import { scopeAllows, scopeAllowsAny } from '../auth/index.js';
import { HavenError, type RequestContext } from '../kernel/index.js';
import { filterSql, splitTypeFilter } from './export-conditions.js';
import type { BulkDeps } from './deps.js';
import { BULK_QUEUE, chunksFromBoundaries, type AssociatedData, type ChunkPayload, type ExportParams } from './model.js';
import { planScopedChunks, scopedPatients } from './patient-scope.js';
import { ASSOCIATED_DATA, type KickoffInput } from './params.js';
import { writeErrorFile } from './writer.js';

/** Types the export may hold: asked for (or all at this level), known, in the compartment, allowed by the scopes. */
function resolveTypes(deps: BulkDeps, ctx: RequestContext, input: KickoffInput, warnings: string[]): string[] {
  const compartment = new Set([...deps.fhir.compartments.resourceTypesIn('Patient'), 'Patient']);
  const all = input.level === 'system' ? [...deps.fhir.resourceTypes] : [...compartment];
  const asked = input.types ?? all;
  for (const t of asked) {
    if (!deps.fhir.isResourceType(t)) throw new HavenError('incorrect', 'BULK_BAD_PARAMETER', `_type names an unknown resource type: ${t}`, { expression: ['_type'] });
  }
  const inLevel = asked.filter((t) => input.level === 'system' || compartment.has(t));
  for (const t of asked) if (!inLevel.includes(t)) warnings.push(`${t} is not in the Patient compartment; left out of this ${input.level}-level export`);
  const allowed = inLevel.filter((t) => scopeAllows(ctx.principal, t, 'read'));
  if (input.types) for (const t of inLevel) if (!allowed.includes(t)) warnings.push(`${t} left out: the access token's scopes do not permit reading it`);
  if (allowed.length === 0) {
    throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', 'The access token grants no system/ read scope on the requested resource types');
  }
  return [...new Set(allowed)].sort();
}

/** The Group's current members that are Patients (active, not marked inactive). */
async function groupPatients(deps: BulkDeps, ctx: RequestContext, groupId: string): Promise<string[]> {
  const group = await deps.store.read(ctx, 'Group', groupId);
  const members = (JSON.parse(group.json!) as { member?: { entity?: { reference?: string }; inactive?: boolean }[] }).member ?? [];
  const ids = members
    .filter((m) => m.inactive !== true)
    .map((m) => /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(m.entity?.reference ?? '')?.[1])
    .filter((x): x is string => x !== undefined);
  return [...new Set(ids)];
}

async function exportParams(deps: BulkDeps, ctx: RequestContext, input: KickoffInput): Promise<ExportParams> {
  if (!scopeAllowsAny(ctx.principal, 'read')) {
    throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', 'Bulk export needs a backend-services token with system/ read scopes');
  }
  const warnings: string[] = [];
  const types = resolveTypes(deps, ctx, input, warnings);
  for (const f of input.typeFilters) {
    const { type, query } = splitTypeFilter(f);
    if (!deps.fhir.isResourceType(type)) throw new HavenError('incorrect', 'BULK_BAD_PARAMETER', `_typeFilter names an unknown resource type: ${type}`, { expression: ['_typeFilter'] });
    await filterSql(deps.chunkSql, type, query, ctx.tenant); // a bad filter is the search's own 400, now rather than in the worker
    if (!types.includes(type)) warnings.push(`_typeFilter for ${type} ignored: ${type} is not exported`);
  }
  const associated = associatedData(ctx, input.includeAssociatedData ?? [], warnings);
  let patients = input.patients;
  if (input.level === 'group') {
    const members = await groupPatients(deps, ctx, input.groupId!);
    patients = patients ? patients.filter((p) => members.includes(p)) : members;
  }
  return {
    level: input.level,
    ...(input.groupId ? { groupId: input.groupId } : {}),
    types,
    ...(input.since ? { since: input.since.toISOString() } : {}),
    typeFilters: input.typeFilters,
    ...(input.elements ? { elements: input.elements } : {}),
    ...(patients ? { patients } : {}),
    warnings,
    ...(associated ? { associated } : {}),
  };
}

/**
 * includeAssociatedData: Relevant (every Provenance of an exported resource)
 * covers Latest. Provenance is read like any exported type, so the scopes must
 * grant it; other values reach here only under Prefer: handling=lenient.
 */
function associatedData(ctx: RequestContext, values: string[], warnings: string[]): AssociatedData | undefined {
  for (const v of values) if (!ASSOCIATED_DATA.has(v)) warnings.push(`includeAssociatedData ${v} is not supported; ignored`);
  const asked = values.map((v) => ASSOCIATED_DATA.get(v)).filter((v) => v !== undefined);
  if (asked.length === 0) return undefined;
  if (!scopeAllows(ctx.principal, 'Provenance', 'read')) {
    warnings.push(`includeAssociatedData left out: the access token's scopes do not permit reading Provenance`);
    return undefined;
  }
  return asked.includes('relevant') ? 'relevant' : 'latest';
}

/**
 * Chunk boundaries: every N-th id per type (N = the file limit), from one
 * index-ordered pass (exports limited to named patients: patient-scope.ts).
 * Filters are applied when the chunk runs, so a filtered file may hold fewer
 * than N resources, never more.
 */
async function planChunks(deps: BulkDeps, tenant: string, params: Pick<ExportParams, 'types' | 'since'>, transactionTime: Date): Promise<ChunkPayload[]> {
  const res = await deps.db.query<{ resource_type: string; id: string; last: boolean }>(
    `SELECT resource_type, id, rn = cnt AS last FROM (
       SELECT resource_type, id, row_number() OVER w AS rn, count(*) OVER (PARTITION BY resource_type) AS cnt
       FROM resource
       WHERE tenant_id = $1 AND resource_type = ANY($2::text[]) AND NOT deleted AND last_updated <= $3
         AND ($4::timestamptz IS NULL OR last_updated > $4)
       WINDOW w AS (PARTITION BY resource_type ORDER BY id)) s
     WHERE rn % $5 = 0 OR rn = cnt ORDER BY resource_type, id`,
    [tenant, params.types, transactionTime, params.since ?? null, deps.settings.maxFileResources],
  );
  return chunksFromBoundaries(res.rows);
}

/**
 * The Provenance chunks of includeAssociatedData, after the others: one per
 * chunk of another type, over the same ids, so the Provenance are found from
 * the exported resources (through the `target` index) and the pass costs what
 * the export holds. None when the snapshot holds no Provenance at all.
 */
async function planAssociated(deps: BulkDeps, tenant: string, params: ExportParams, chunks: ChunkPayload[], transactionTime: Date): Promise<ChunkPayload[]> {
  const targets = [...new Set(chunks.map((c) => c.type))].filter((t) => t !== 'Provenance');
  if (!params.associated || targets.length === 0) return [];
  const any = await deps.db.query(
    `SELECT 1 FROM resource WHERE tenant_id = $1 AND resource_type = 'Provenance' AND NOT deleted AND last_updated <= $2 LIMIT 1`,
    [tenant, transactionTime],
  );
  if (any.rows.length === 0) return [];
  return chunks
    .filter((c) => c.type !== 'Provenance')
    .map((c) => ({ type: 'Provenance', after: c.after, upTo: c.upTo, associated: params.associated, targetType: c.type, targets }));
}

/** Kick-off: validates, snapshots the time, and stores the job with its tasks in one transaction. */
export async function startExport(deps: BulkDeps, ctx: RequestContext, input: KickoffInput, requestUrl: string): Promise<string> {
  const params = await exportParams(deps, ctx, input);
  const jobId = randomUUID();
  const transactionTime = deps.clock.now();
  const patients = scopedPatients(params);
  const typeChunks = patients
    ? await planScopedChunks(deps.db, deps.chunkSql, ctx.tenant, params, patients, transactionTime, deps.settings.maxFileResources)
    : await planChunks(deps, ctx.tenant, params, transactionTime);
  const chunks = [...typeChunks, ...(await planAssociated(deps, ctx.tenant, params, typeChunks, transactionTime))];
  const errorFile = params.warnings.length > 0 ? await writeErrorFile(deps, ctx.tenant, jobId, params.warnings) : undefined;
  await deps.db.transaction(async (tx) => {
    const done = chunks.length === 0;
    await tx.query(
      `INSERT INTO bulk_job (tenant_id, job_id, client_id, subject, status, level, request_url, params, transaction_time, completed_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $10 THEN now() END, CASE WHEN $10 THEN now() + make_interval(hours => $11) END)`,
      [ctx.tenant, jobId, ctx.principal.clientId, ctx.principal.subject, done ? 'complete' : 'running', params.level, requestUrl, JSON.stringify(params), transactionTime, done, deps.settings.fileTtlHours],
    );
    if (errorFile) {
      await tx.query(
        `INSERT INTO bulk_file (tenant_id, job_id, seq, kind, resource_type, blob_name, count, bytes) VALUES ($1, $2, 0, 'error', 'OperationOutcome', $3, $4, $5)`,
        [ctx.tenant, jobId, errorFile.name, errorFile.count, errorFile.bytes],
      );
    }
    await deps.queue.enqueue(tx, ctx.tenant, BULK_QUEUE, jobId, chunks.map((payload, i) => ({ seq: i + 1, payload })));
  });
  deps.nudge();
  return jobId;
}
