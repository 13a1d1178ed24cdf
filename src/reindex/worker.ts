import type { Task } from '../store/jobs.js';
import { createWorkerPool, type WorkerPool } from '../store/worker-pool.js';
import { reindexBatch } from './batch.js';
import { loadCursor, loadJob, settleJob } from './job-store.js';
import { reindexQueue, type ReindexDeps, type ReindexJob, type ReindexPayload } from './model.js';
import type { ParamSync } from './param-sync.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function describe(err: unknown): string {
  // Names and codes only: driver and codec messages may quote ids or content.
  const e = err as { name?: unknown; code?: unknown };
  return `${typeof e?.name === 'string' ? e.name : 'Error'}${typeof e?.code === 'string' ? ` ${e.code}` : ''}`;
}

/** Runs one type's batches from its cursor; false when it stopped early (node stopping or lease lost). */
async function runType(deps: ReindexDeps, job: ReindexJob, task: Task<ReindexPayload>, isRunning: () => boolean): Promise<boolean> {
  const type = task.payload.type;
  const leaseMs = deps.settings.leaseSeconds * 1000;
  let cursor = (await loadCursor(deps.db, job.tenant, job.jobId, type)) ?? { lastId: '', done: 0 };
  for (;;) {
    if (!isRunning()) return false;
    const n = await reindexBatch(deps, job, type, cursor.lastId);
    if (n === 0) return true;
    cursor = (await loadCursor(deps.db, job.tenant, job.jobId, type))!;
    if (!(await deps.queue.renew(task, leaseMs, cursor.done))) return false;
  }
}

async function processTask(deps: ReindexDeps, sync: ParamSync, task: Task<ReindexPayload>, isRunning: () => boolean): Promise<void> {
  const job = await loadJob(deps.db, task.tenant, task.jobId);
  if (!job || job.status !== 'running') {
    await deps.queue.complete(deps.db, task, 0);
    return;
  }
  // Writes on nodes still holding the old parameter copy finish before the job reads (see ReindexDeps.settings.ttlMs).
  const wait = job.notBefore.getTime() - Date.now();
  if (wait > 0) await sleep(Math.min(wait, deps.settings.leaseSeconds * 500));
  await sync.refresh(true);
  try {
    if (!(await runType(deps, job, task, isRunning))) {
      if (!isRunning()) await deps.queue.release(task);
      return;
    }
    const cursor = await loadCursor(deps.db, job.tenant, job.jobId, task.payload.type);
    // Settled after the commit: the job's task counts are read on another connection.
    if (await deps.queue.complete(deps.db, task, cursor?.done ?? 0)) await settleJob(deps.db, deps.queue, job.tenant, job.jobId, deps.settings.maxAttempts);
  } catch (err) {
    deps.logger.error({ jobId: job.jobId, type: task.payload.type, attempt: task.attempts, err: describe(err) }, 'reindex task failed; it will be retried');
    await deps.queue.fail(task, deps.settings.maxAttempts, describe(err), task.attempts * 1000);
    await settleJob(deps.db, deps.queue, job.tenant, job.jobId, deps.settings.maxAttempts);
  }
}

/** The node's reindex workers: each leases one type of one job at a time from the tenant's queue. */
export function createReindexWorkers(deps: ReindexDeps, sync: ParamSync): WorkerPool {
  const queue = reindexQueue(deps.tenant);
  return createWorkerPool<ReindexPayload>({
    workers: deps.settings.workers,
    lease: () => deps.queue.lease<ReindexPayload>(queue, deps.node, deps.settings.leaseSeconds * 1000, deps.settings.maxAttempts),
    process: (task, isRunning) => processTask(deps, sync, task, isRunning),
    onError: (err) => deps.logger.error({ err: describe(err) }, 'reindex worker error; retrying shortly'),
  });
}
