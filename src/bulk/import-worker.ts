import type { Task } from '../store/jobs.js';
import type { BulkDeps } from './deps.js';
import { runImportTask } from './import-task.js';
import { blobName, type BulkJob, type ImportPayload } from './model.js';
import { describe, settleJob } from './settle.js';
import { writeErrorFile } from './writer.js';

// Error files of an import sit after its inputs in the job's file numbering.
const ERROR_SEQ = 1_000_000;

/** Runs one $import input and records its count (and error file) with the task's completion, in one transaction. */
export async function importTask(deps: BulkDeps, job: BulkJob, task: Task<ImportPayload>, keepLease: (n: number) => Promise<boolean>, isRunning: () => boolean): Promise<void> {
  try {
    const result = await runImportTask(deps, job, task, keepLease);
    if (!result) {
      if (!isRunning()) await deps.queue.release(task);
      return;
    }
    const errors = result.errors.length > 0 ? await writeErrorFile(deps, job.tenant, job.jobId, result.errors, blobName(job.jobId, ERROR_SEQ + task.seq, task.attempts), 'error') : undefined;
    await deps.db.transaction(async (tx) => {
      if (!(await deps.queue.complete(tx, task, result.count))) return;
      await tx.query(
        `INSERT INTO bulk_file (tenant_id, job_id, seq, kind, resource_type, blob_name, count, bytes) VALUES ($1, $2, $3, 'output', $4, $5, $6, 0)`,
        [job.tenant, job.jobId, task.seq, task.payload.type, task.payload.url, result.count],
      );
      if (errors) {
        await tx.query(
          `INSERT INTO bulk_file (tenant_id, job_id, seq, kind, resource_type, blob_name, count, bytes) VALUES ($1, $2, $3, 'error', 'OperationOutcome', $4, $5, $6)`,
          [job.tenant, job.jobId, ERROR_SEQ + task.seq, errors.name, errors.count, errors.bytes],
        );
      }
    });
  } catch (err) {
    deps.logger.error({ jobId: job.jobId, seq: task.seq, attempt: task.attempts, err: describe(err) }, 'bulk import task failed; it will be retried');
    await deps.queue.fail(task, deps.settings.maxAttempts, describe(err), task.attempts * 1000); // back off: 1 s, 2 s, …
  }
  await settleJob(deps, job.tenant, job.jobId);
}
