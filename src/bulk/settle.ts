import { isHavenError } from '../kernel/index.js';
import type { BulkDeps } from './deps.js';
import { finishJob } from './job-store.js';

/** Error name and code only: messages can quote ids, and logs never carry PHI. */
export const describe = (err: unknown) => (isHavenError(err) ? err.code : [(err as Error).name, (err as { code?: string }).code].filter(Boolean).join(' '));

/** Completes the job when all its tasks are done, or fails it when one ran out of attempts. */
export async function settleJob(deps: BulkDeps, tenant: string, jobId: string): Promise<void> {
  const counts = await deps.queue.counts(tenant, jobId);
  if (counts.total > 0 && counts.done === counts.total) {
    await finishJob(deps.db, tenant, jobId, 'complete', deps.settings.fileTtlHours);
  } else if ((await deps.queue.exhausted(tenant, jobId, deps.settings.maxAttempts)) > 0) {
    await finishJob(deps.db, tenant, jobId, 'failed', deps.settings.fileTtlHours, 'A bulk task failed on every attempt');
  }
}
