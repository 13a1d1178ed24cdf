import { checkCustomSearchParameter, isActiveSearchParameter, type HavenSearchParamRegistry } from '../fhir/index.js';
import type { SearchParamDef } from '../fhir/index-values.js';
import { HavenError, type RequestContext } from '../kernel/index.js';
import type { Queryable, StoreHooks, WriteOperation, WriteResult } from '../store/index.js';
import type { JobQueue } from '../store/jobs.js';
import { OWNED_INDEX_TABLES } from '../store/index-sql.js';
import { createJob } from './job-store.js';
import { bumpVersion, type ParamSync } from './param-sync.js';

export interface ParamHookDeps {
  registry: HavenSearchParamRegistry;
  resourceTypes: ReadonlySet<string>;
  queue: JobQueue;
  sync: ParamSync;
  /** Delay before a new parameter's reindex job starts (nodes' copies may be this old). */
  jobDelayMs: number;
}

/** Refuses a custom parameter whose code another custom parameter of the same base already uses. */
async function checkCustomClash(tx: Queryable, tenant: string, def: SearchParamDef, resourceId: string): Promise<void> {
  const res = await tx.query<{ url: string }>(
    'SELECT url FROM custom_search_param WHERE tenant_id = $1 AND code = $2 AND base && $3::text[] AND url <> $4 AND resource_id <> $5 LIMIT 1',
    [tenant, def.code, def.base, def.url, resourceId],
  );
  if (res.rows[0]) {
    throw new HavenError('unprocessable', 'SEARCH_PARAM_INVALID', `Invalid SearchParameter: code ${def.code} is already used by ${res.rows[0].url}`, {
      expression: ['SearchParameter.code'],
    });
  }
}

/** Drops the parameter this resource defined, and its index rows (unless the code is also built in). */
async function dropDefinition(tx: Queryable, deps: ParamHookDeps, tenant: string, resourceId: string, keepCode: string | null): Promise<void> {
  const gone = await tx.query<{ code: string; base: string[] }>(
    'DELETE FROM custom_search_param WHERE tenant_id = $1 AND resource_id = $2 RETURNING code, base',
    [tenant, resourceId],
  );
  for (const row of gone.rows) {
    // Same code again (an edit): the reindex job replaces its rows, searches warn until then.
    const types = row.code === keepCode ? [] : row.base.filter((b) => !deps.registry.builtin(b, row.code));
    if (types.length === 0) continue;
    for (const t of OWNED_INDEX_TABLES) {
      await tx.query(`DELETE FROM ${t} WHERE tenant_id = $1 AND resource_type = ANY($2::text[]) AND param = $3`, [tenant, types, row.code]);
    }
  }
}

async function applyResult(tx: Queryable, deps: ParamHookDeps, tenant: string, result: WriteResult): Promise<void> {
  const id = result.stored.id;
  const active = result.resource !== undefined && isActiveSearchParameter(result.resource);
  const def = active ? checkCustomSearchParameter(deps.registry, deps.resourceTypes, result.resource) : null;
  await dropDefinition(tx, deps, tenant, id, def?.code ?? null);
  if (def) {
    await checkCustomClash(tx, tenant, def, id);
    const job = await createJob(tx, deps.queue, tenant, { types: def.base, params: [def.code], delayMs: deps.jobDelayMs });
    await tx.query(
      `INSERT INTO custom_search_param (tenant_id, url, resource_id, code, base, definition, reindex_job) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)`,
      [tenant, def.url, id, def.code, def.base, JSON.stringify(result.resource), job.empty ? null : job.jobId],
    );
  }
  await bumpVersion(tx, tenant);
}

/**
 * Custom SearchParameters take effect with their own write: validated before
 * it (422 on a bad definition), recorded with their reindex job inside its
 * transaction, and every write first brings this node's parameters up to date.
 */
export function attachParamHooks(hooks: StoreHooks, deps: ParamHookDeps): void {
  hooks.beforeWrite.push(async (_ctx: RequestContext, op: WriteOperation) => {
    await deps.sync.refresh();
    if (op.kind !== 'delete' && op.resource.resourceType === 'SearchParameter' && isActiveSearchParameter(op.resource)) {
      checkCustomSearchParameter(deps.registry, deps.resourceTypes, op.resource);
    }
  });
  hooks.afterWrite.push(async (ctx, tx, results) => {
    let changed = false;
    for (const r of results) {
      if (r.noop || r.stored.resourceType !== 'SearchParameter') continue;
      await applyResult(tx, deps, ctx.tenant, r);
      changed = true;
    }
    if (changed) deps.sync.changedLocally();
  });
}
