import { HavenError, type RequestContext } from '../kernel/index.js';
import type { StoreHooks } from '../store/index.js';
import { createJob, jobProgress } from './job-store.js';
import type { ReindexDeps, ReindexProgress } from './model.js';
import { attachParamHooks } from './param-hooks.js';
import { createParamSync } from './param-sync.js';
import { createReindexWorkers } from './worker.js';

/** `name:modifier`, `name.chain` → name (chains through a custom parameter are not checked). */
const codeOf = (param: string): string => param.split(/[:.]/, 1)[0]!;


/**
 * Custom search parameters and reindexing: keeps this node's parameters in
 * step with the database, validates SearchParameter writes, runs reindex jobs
 * and answers their status. One per app (its tenant).
 */
export function createReindexService(deps: ReindexDeps) {
  // The version check runs inside write transactions too (a conditional create searches): its own connections.
  const sync = createParamSync(deps.db.control, deps.registry, deps.tenant, deps.settings.ttlMs);
  const workers = createReindexWorkers(deps, sync);
  const jobDelayMs = deps.settings.ttlMs * 2;

  function reindexing(resourceType: string, params: [string, string][]): string[] {
    return [...new Set(params.map(([k]) => codeOf(k)))].filter((code) => sync.isReindexing(resourceType, code));
  }

  return {
    sync,
    attach(hooks: StoreHooks): void {
      attachParamHooks(hooks, { registry: deps.registry, resourceTypes: deps.resourceTypes, queue: deps.queue, sync, jobDelayMs });
    },
    /**
     * Wraps a search: the node's parameters are refreshed first; a parameter whose existing data is
     * still being reindexed answers 400 under `Prefer: handling=strict`, otherwise results plus a warning.
     */
    guardSearch<Rd, O extends { strict: boolean }, R extends { warnings?: string[] }>(
      search: (ctx: RequestContext, reader: Rd, resourceType: string, params: [string, string][], options: O) => Promise<R>,
    ) {
      return async (ctx: RequestContext, reader: Rd, resourceType: string, params: [string, string][], options: O): Promise<R> => {
        await sync.refresh();
        let pending = reindexing(resourceType, params);
        if (pending.length > 0) {
          // This node's copy may predate the job's completion (within its TTL): ask the database before refusing or warning.
          await sync.refresh(true);
          pending = reindexing(resourceType, params);
        }
        if (pending.length > 0 && options.strict) {
          throw new HavenError('incorrect', 'SEARCH_PARAM_REINDEXING', `Search parameter(s) ${pending.join(', ')} of ${resourceType} are still being reindexed: results would be incomplete`, {
            expression: pending,
          });
        }
        const page = await search(ctx, reader, resourceType, params, options);
        if (pending.length === 0) return page;
        const warning = `Search parameter(s) ${pending.join(', ')} of ${resourceType} are still being reindexed: resources written before they were defined may be missing`;
        return { ...page, warnings: [...(page.warnings ?? []), warning] };
      };
    },
    /** Starts a job reindexing every parameter of `types` (all types with data when absent). */
    async kickoff(ctx: RequestContext, types?: string[]): Promise<string> {
      for (const t of types ?? []) {
        if (!deps.resourceTypes.has(t)) throw new HavenError('incorrect', 'REINDEX_INVALID', `Unknown resource type: ${t}`);
      }
      const job = await deps.db.transaction((tx) => createJob(tx, deps.queue, ctx.tenant, { ...(types ? { types } : {}), params: null, delayMs: 0 }));
      workers.nudge();
      return job.jobId;
    },
    async status(ctx: RequestContext, jobId: string): Promise<ReindexProgress> {
      const progress = /^[0-9a-f-]{36}$/.test(jobId) ? await jobProgress(deps.db, ctx.tenant, jobId) : undefined;
      if (!progress) throw new HavenError('not-found', 'REINDEX_JOB_NOT_FOUND', `No reindex job ${jobId}`);
      return progress;
    },
    start: () => workers.start(),
    stop: () => workers.stop(),
  };
}

export type ReindexService = ReturnType<typeof createReindexService>;
