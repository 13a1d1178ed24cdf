import type { Queryable } from '../store/index.js';
import type { BulkJob, ExportParams, JobStatus } from './model.js';

interface JobRow {
  tenant_id: string;
  job_id: string;
  client_id: string;
  subject: string;
  status: JobStatus;
  request_url: string;
  params: ExportParams;
  transaction_time: Date;
  last_poll_at: Date | null;
  error: string | null;
}

export interface FileRow {
  seq: number;
  kind: 'output' | 'error';
  resource_type: string;
  blob_name: string;
  count: string;
  patient_ids: string[];
}

const toJob = (r: JobRow): BulkJob => ({
  tenant: r.tenant_id,
  jobId: r.job_id,
  clientId: r.client_id,
  subject: r.subject,
  status: r.status,
  requestUrl: r.request_url,
  params: r.params,
  transactionTime: r.transaction_time,
  lastPollAt: r.last_poll_at,
  error: r.error,
});

const COLUMNS = 'tenant_id, job_id, client_id, subject, status, request_url, params, transaction_time, last_poll_at, error';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function loadJob(q: Queryable, tenant: string, jobId: string): Promise<BulkJob | undefined> {
  if (!UUID.test(jobId)) return undefined;
  const res = await q.query<JobRow>(`SELECT ${COLUMNS} FROM bulk_job WHERE tenant_id = $1 AND job_id = $2`, [tenant, jobId]);
  return res.rows[0] ? toJob(res.rows[0]) : undefined;
}

/**
 * Records this poll; returns the milliseconds since the previous one (null on the first), measured
 * on the database clock so that nodes with skewed clocks agree on the rate limit.
 */
export async function markPolled(q: Queryable, tenant: string, jobId: string): Promise<number | null> {
  const res = await q.query<{ elapsed: number | null }>(
    `UPDATE bulk_job j SET last_poll_at = clock_timestamp()
     FROM (SELECT last_poll_at AS previous FROM bulk_job WHERE tenant_id = $1 AND job_id = $2 FOR UPDATE) p
     WHERE j.tenant_id = $1 AND j.job_id = $2
     RETURNING (extract(epoch FROM clock_timestamp() - p.previous) * 1000)::float8 AS elapsed`,
    [tenant, jobId],
  );
  return res.rows[0]?.elapsed ?? null;
}

/** running → complete|failed, once; the files start to expire from now. */
export async function finishJob(q: Queryable, tenant: string, jobId: string, status: 'complete' | 'failed', ttlHours: number, error?: string): Promise<void> {
  await q.query(
    `UPDATE bulk_job SET status = $3, completed_at = now(), expires_at = now() + make_interval(hours => $4), error = $5
     WHERE tenant_id = $1 AND job_id = $2 AND status = 'running'`,
    [tenant, jobId, status, ttlHours, error ?? null],
  );
}

export async function listFiles(q: Queryable, tenant: string, jobId: string): Promise<FileRow[]> {
  const res = await q.query<FileRow>(
    'SELECT seq, kind, resource_type, blob_name, count, patient_ids FROM bulk_file WHERE tenant_id = $1 AND job_id = $2 ORDER BY seq',
    [tenant, jobId],
  );
  return res.rows;
}

export async function insertFile(
  q: Queryable,
  tenant: string,
  jobId: string,
  file: { seq: number; type: string; name: string; count: number; bytes: number; patients: string[] },
): Promise<void> {
  await q.query(
    `INSERT INTO bulk_file (tenant_id, job_id, seq, kind, resource_type, blob_name, count, bytes, patient_ids)
     VALUES ($1, $2, $3, 'output', $4, $5, $6, $7, $8)`,
    [tenant, jobId, file.seq, file.type, file.name, file.count, file.bytes, file.patients],
  );
}

/** Ends a job for good (cancelled or expired): its rows go, the job row stays as a tombstone. */
export async function retireJob(q: Queryable, tenant: string, jobId: string, status: 'cancelled' | 'expired'): Promise<void> {
  await q.query('DELETE FROM bulk_file WHERE tenant_id = $1 AND job_id = $2', [tenant, jobId]);
  await q.query(`UPDATE bulk_job SET status = $3 WHERE tenant_id = $1 AND job_id = $2`, [tenant, jobId, status]);
}

export async function expiredJobs(q: Queryable, limit: number): Promise<BulkJob[]> {
  const res = await q.query<JobRow>(
    `SELECT ${COLUMNS} FROM bulk_job WHERE status IN ('complete', 'failed') AND expires_at < now() ORDER BY expires_at LIMIT $1`,
    [limit],
  );
  return res.rows.map(toJob);
}
