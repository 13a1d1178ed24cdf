import type { Task } from '../store/jobs.js';
import { createWorkerPool, type WorkerPool } from '../store/worker-pool.js';
import { auditFileWritten } from './audit-files.js';
import type { BulkDeps } from './deps.js';
import { importTask } from './import-worker.js';
import { insertFile, loadJob } from './job-store.js';
import { describe, settleJob } from './settle.js';
import { BULK_QUEUE, IMPORT_QUEUE, type BulkJob, type ChunkPayload, type ImportPayload } from './model.js';
import { runChunk } from './writer.js';

/** Publishes a written file: audit entry first (no file without its entry), then file row + task done in one transaction. */
async function publish(deps: BulkDeps, job: BulkJob, task: Task<ChunkPayload>, result: NonNullable<Awaited<ReturnType<typeof runChunk>>>): Promise<boolean> {
  await auditFileWritten(deps, job, task.seq, task.payload.type, result.patients);
  return deps.db.transaction(async (tx) => {
    if (!(await deps.queue.complete(tx, task, result.count))) return false;
    const file = { seq: task.seq, type: task.payload.type, name: result.name, count: result.count, bytes: result.bytes, patients: [...result.patients] };
    await insertFile(tx, job.tenant, job.jobId, file);
    return true;
  });
}

/** Renews the lease at a third of its length; false once the node stops or the lease is lost. */
function leaseKeeper(deps: BulkDeps, task: Task, isRunning: () => boolean) {
  const leaseMs = deps.settings.leaseSeconds * 1000;
  let renewedAt = Date.now();
  return async (progress: number) => {
    if (!isRunning()) return false;
    if (Date.now() - renewedAt < leaseMs / 3) return true;
    renewedAt = Date.now();
    return deps.queue.renew(task, leaseMs, progress);
  };
}

export async function processTask(deps: BulkDeps, task: Task<ChunkPayload | ImportPayload>, isRunning: () => boolean): Promise<void> {
  const job = await loadJob(deps.db, task.tenant, task.jobId);
  if (!job || job.status !== 'running') {
    await deps.queue.complete(deps.db, task, 0); // cancelled meanwhile: nothing to do
    return;
  }
  const keepLease = leaseKeeper(deps, task, isRunning);
  if (task.queue === IMPORT_QUEUE) return importTask(deps, job, task as Task<ImportPayload>, keepLease, isRunning);
  await exportTask(deps, job, task as Task<ChunkPayload>, keepLease, isRunning);
}

async function exportTask(deps: BulkDeps, job: BulkJob, task: Task<ChunkPayload>, keepLease: (n: number) => Promise<boolean>, isRunning: () => boolean): Promise<void> {
  try {
    const result = await runChunk(deps, job, task, keepLease);
    if (!result) {
      if (!isRunning()) await deps.queue.release(task);
      return;
    }
    if (!(await publish(deps, job, task, result))) {
      await deps.blobs.delete(job.tenant, result.name); // lease lost: another attempt owns this chunk now
      return;
    }
  } catch (err) {
    deps.logger.error({ jobId: job.jobId, seq: task.seq, attempt: task.attempts, err: describe(err) }, 'bulk export task failed; it will be retried');
    await deps.queue.fail(task, deps.settings.maxAttempts, describe(err), task.attempts * 1000); // back off: 1 s, 2 s, …
  }
  await settleJob(deps, job.tenant, job.jobId);
}

/** The node's export workers: each leases one task at a time from the shared queue. */
export function createWorkers(deps: BulkDeps): WorkerPool {
  return createWorkerPool<ChunkPayload | ImportPayload>({
    workers: deps.settings.workers,
    lease: () => deps.queue.lease<ChunkPayload | ImportPayload>([BULK_QUEUE, IMPORT_QUEUE], deps.node, deps.settings.leaseSeconds * 1000, deps.settings.maxAttempts),
    process: (task, isRunning) => processTask(deps, task, isRunning),
    onError: (err) => deps.logger.error({ err: describe(err) }, 'bulk export worker error; retrying shortly'),
  });
}
