import type { AuditedContext, AuditResourceRef } from '../audit/index.js';
import type { BulkDeps } from './deps.js';
import type { BulkJob } from './model.js';

/**
 * The recipient of an export is the client that started it: entries are
 * recorded in its name, so the accounting of disclosures for a patient names
 * that client for every file holding the patient's data.
 */
function jobContext(job: Pick<BulkJob, 'tenant' | 'jobId' | 'clientId' | 'subject'>, requestId: string): AuditedContext {
  return {
    tenant: job.tenant as AuditedContext['tenant'],
    requestId,
    principal: { subject: job.subject, clientId: job.clientId, kind: 'client', scopes: [] },
    audit: { action: 'operation', operation: '$export', resources: [], recorded: 0 },
  };
}

const patientRefs = (patients: Iterable<string>): AuditResourceRef[] =>
  [...patients].map((id) => ({ type: 'Patient', id, patient: `Patient/${id}` }));

/** One entry per output file: its type and every patient whose data it holds. Awaited: no file without its entry. */
export async function auditFileWritten(deps: BulkDeps, job: BulkJob, seq: number, type: string, patients: Set<string>): Promise<void> {
  if (!deps.audit) return;
  const ctx = jobContext(job, `bulk/${job.jobId}/${seq}`);
  await deps.audit.record(ctx, [{ action: 'operation', outcome: 'success', resources: [{ type }, ...patientRefs(patients)] }]);
}

/** A download of a file: the disclosure itself, again naming the patients. */
export async function auditFileDownloaded(deps: BulkDeps, job: BulkJob, seq: number, type: string, patients: string[]): Promise<void> {
  if (!deps.audit) return;
  const ctx = jobContext(job, `bulk/${job.jobId}/${seq}/download`);
  await deps.audit.record(ctx, [{ action: 'read', outcome: 'success', resources: [{ type }, ...patientRefs(patients)] }]);
}

/** Files deleted (cancel or expiry): recorded so the trail shows the data no longer exists at rest. */
export async function auditFilesDeleted(deps: BulkDeps, job: Pick<BulkJob, 'tenant' | 'jobId' | 'clientId' | 'subject'>, reason: 'cancelled' | 'expired'): Promise<void> {
  if (!deps.audit) return;
  const ctx = jobContext(job, `bulk/${job.jobId}/${reason}`);
  await deps.audit.record(ctx, [{ action: 'delete', outcome: 'success', resources: [{ type: 'Binary', id: job.jobId }] }]);
}
