import type { RequestContext } from '../kernel/index.js';
import type { BulkDeps } from './deps.js';
import { expiredJobs } from './job-store.js';
import type { KickoffInput } from './params.js';
import { startImport } from './import-plan.js';
import { startExport } from './plan.js';
import { cancelExport, exportFile, exportStatus, removeJob, type BulkReply } from './status.js';
import { createWorkers } from './worker.js';

export interface BulkService {
  /** Kick-off: returns the job id (the HTTP layer builds the status URL). */
  kickoff(ctx: RequestContext, input: KickoffInput, requestUrl: string): Promise<string>;
  /** $import kick-off (inputs: files of this client's completed exports); returns the job id. */
  kickoffImport(ctx: RequestContext, body: unknown, baseUrl: string, requestUrl: string): Promise<string>;
  status(ctx: RequestContext, jobId: string, baseUrl: string): Promise<BulkReply>;
  cancel(ctx: RequestContext, jobId: string): Promise<BulkReply>;
  file(ctx: RequestContext, jobId: string, seq: string): Promise<BulkReply>;
  /** Deletes the files of expired exports (and audits it); returns how many jobs expired. */
  sweep(): Promise<number>;
  /** Starts this node's workers and the expiry sweep. */
  start(): void;
  stop(): Promise<void>;
}

const SWEEP_MS = 60_000;

export function createBulkService(input: Omit<BulkDeps, 'nudge'>): BulkService {
  const wake: { workers?: { nudge(): void } } = {};
  const deps: BulkDeps = { ...input, nudge: () => wake.workers?.nudge() };
  const workers = createWorkers(deps);
  wake.workers = workers;
  let timer: NodeJS.Timeout | undefined;
  let sweeping: Promise<number> | undefined;

  async function sweep(): Promise<number> {
    let n = 0;
    for (const job of await expiredJobs(deps.db, 100)) {
      await removeJob(deps, job, 'expired');
      n++;
    }
    return n;
  }
  const sweepOnce = () => (sweeping ??= sweep().finally(() => (sweeping = undefined)));

  return {
    kickoff: (ctx, kick, url) => startExport(deps, ctx, kick, url),
    kickoffImport: (ctx, body, baseUrl, url) => startImport(deps, ctx, body, baseUrl, url),
    status: (ctx, jobId, baseUrl) => exportStatus(deps, ctx, jobId, baseUrl),
    cancel: (ctx, jobId) => cancelExport(deps, ctx, jobId),
    file: (ctx, jobId, seq) => exportFile(deps, ctx, jobId, seq),
    sweep: sweepOnce,
    start() {
      if (deps.settings.workers > 0) workers.start();
      timer ??= setInterval(() => {
        sweepOnce().catch(() => deps.logger.error({}, 'bulk export expiry sweep failed; retried next minute'));
      }, SWEEP_MS);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await workers.stop();
      await sweeping?.catch(() => 0);
    },
  };
}
