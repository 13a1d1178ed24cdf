import { HavenError, type RequestContext } from '../kernel/index.js';
import { auditFileDownloaded, auditFilesDeleted } from './audit-files.js';
import type { BulkDeps } from './deps.js';
import { listFiles, loadJob, markPolled, retireJob } from './job-store.js';
import { blobPrefix, type BulkJob } from './model.js';
import { settleJob } from './settle.js';

/** Framework-neutral answer of the status and file endpoints. */
export interface BulkReply {
  status: number;
  headers: Record<string, string>;
  body?: object;
  stream?: AsyncIterable<Buffer>;
}

const notFound = () => new HavenError('not-found', 'BULK_JOB_NOT_FOUND', 'No such export job (unknown, cancelled, expired, or started by another client)');

/** The job, only for the client that started it; anyone else learns nothing, not even that it exists. */
async function ownJob(deps: BulkDeps, ctx: RequestContext, jobId: string): Promise<BulkJob> {
  const job = await loadJob(deps.db, ctx.tenant, jobId);
  if (!job || job.clientId !== ctx.principal.clientId || job.status === 'cancelled' || job.status === 'expired') throw notFound();
  return job;
}

function manifest(job: BulkJob, files: Awaited<ReturnType<typeof listFiles>>, baseUrl: string) {
  const url = (seq: number) => `${baseUrl}/bulk/files/${job.jobId}/${seq}`;
  const entry = (f: (typeof files)[number]) => ({ type: f.resource_type, url: url(f.seq), count: Number(f.count) });
  // An import's outputs are its inputs, with the number of resources written from each.
  const imported = (f: (typeof files)[number]) => ({ type: f.resource_type, inputUrl: f.blob_name, count: Number(f.count) });
  return {
    transactionTime: job.transactionTime.toISOString(),
    request: job.requestUrl,
    requiresAccessToken: true,
    output: job.params.level === 'import' ? files.filter((f) => f.kind === 'output').map(imported) : files.filter((f) => f.kind === 'output' && Number(f.count) > 0).map(entry),
    error: files.filter((f) => f.kind === 'error').map(entry),
  };
}

export async function exportStatus(deps: BulkDeps, ctx: RequestContext, jobId: string, baseUrl: string): Promise<BulkReply> {
  let job = await ownJob(deps, ctx, jobId);
  const retryAfter = String(deps.settings.retryAfterSeconds);
  if (job.status === 'running') {
    const elapsedMs = await markPolled(deps.db, ctx.tenant, jobId);
    // A little slack under Retry-After: a client that waits as told must never be refused for timer jitter.
    if (elapsedMs !== null && elapsedMs < deps.settings.retryAfterSeconds * 800) {
      throw new HavenError('busy', 'BULK_POLLED_TOO_FAST', `Poll the status at most every ${retryAfter} s (Retry-After)`, { headers: { 'Retry-After': retryAfter } });
    }
    await settleJob(deps, ctx.tenant, jobId);
    job = await ownJob(deps, ctx, jobId);
  }
  if (job.status === 'running') {
    const c = await deps.queue.counts(ctx.tenant, jobId);
    const pct = c.total === 0 ? 0 : Math.floor((100 * c.done) / c.total);
    return { status: 202, headers: { 'X-Progress': `${pct}% (${c.done}/${c.total} files, ${c.progress} resources)`, 'Retry-After': retryAfter } };
  }
  if (job.status === 'failed') {
    return {
      status: 500,
      headers: {},
      body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: job.error ?? 'The export failed' }] },
    };
  }
  const files = await listFiles(deps.db, ctx.tenant, jobId);
  return { status: 200, headers: { Expires: new Date(Date.now() + deps.settings.fileTtlHours * 3600_000).toUTCString() }, body: manifest(job, files, baseUrl) };
}

/** DELETE on the status URL: the job stops and its files are deleted (and the deletion audited). */
export async function cancelExport(deps: BulkDeps, ctx: RequestContext, jobId: string): Promise<BulkReply> {
  const job = await ownJob(deps, ctx, jobId);
  await removeJob(deps, job, 'cancelled');
  return { status: 202, headers: {}, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', diagnostics: 'Export cancelled; its files are deleted' }] } };
}

/** Shared by cancel and the expiry sweep: tasks and file rows go first (a running worker's lease fails), then the blobs. */
export async function removeJob(deps: BulkDeps, job: BulkJob, reason: 'cancelled' | 'expired'): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await retireJob(tx, job.tenant, job.jobId, reason);
    await deps.queue.remove(tx, job.tenant, job.jobId);
  });
  await deps.blobs.deletePrefix(job.tenant, blobPrefix(job.jobId));
  await auditFilesDeleted(deps, job, reason);
}

/** One output or error file, decrypted as it streams; audited as a disclosure before the first byte. */
export async function exportFile(deps: BulkDeps, ctx: RequestContext, jobId: string, seqText: string): Promise<BulkReply> {
  const job = await ownJob(deps, ctx, jobId);
  const seq = /^\d{1,9}$/.test(seqText) ? Number(seqText) : -1;
  const file = (await listFiles(deps.db, ctx.tenant, jobId)).find((f) => f.seq === seq && f.blob_name.startsWith('bulk/'));
  if (!file) throw new HavenError('not-found', 'BULK_FILE_NOT_FOUND', 'No such file in this export');
  await auditFileDownloaded(deps, job, seq, file.resource_type, file.patient_ids);
  // The first segment is opened before answering, so a missing or damaged file is an error status, not a cut-off 200.
  const segments = deps.blobs.read(ctx.tenant, file.blob_name);
  const first = await segments.next();
  async function* all(): AsyncGenerator<Buffer> {
    if (!first.done) yield first.value;
    yield* segments;
  }
  return { status: 200, headers: { 'Content-Type': 'application/fhir+ndjson' }, stream: all() };
}
