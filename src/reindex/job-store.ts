import { randomUUID } from 'node:crypto';
import type { Queryable } from '../store/index.js';
import type { JobQueue } from '../store/jobs.js';
import { reindexQueue, type ReindexJob, type ReindexProgress, type ReindexStatus } from './model.js';

interface JobRow {
  tenant_id: string;
  job_id: string;
  types: string[];
  params: string[] | null;
  status: string;
  total: string;
  not_before: Date;
  created_at: Date;
  finished_at: Date | null;
}

function toJob(r: JobRow): ReindexJob {
  return {
    tenant: r.tenant_id, jobId: r.job_id, types: r.types, params: r.params, status: r.status as ReindexStatus,
    total: Number(r.total), notBefore: r.not_before, createdAt: r.created_at, finishedAt: r.finished_at,
  };
}

export interface NewJob {
  /** Types to reindex; undefined: every type with live resources. */
  types?: string[];
  params: string[] | null;
  /** Nodes may index with their old parameter copy for up to this long; the job starts after it. */
  delayMs: number;
}

/** Creates a job and its tasks (one per type with live rows) in `q`, the caller's transaction. */
export async function createJob(q: Queryable, queue: JobQueue, tenant: string, job: NewJob): Promise<{ jobId: string; empty: boolean }> {
  const counts = await q.query<{ resource_type: string; n: string }>(
    `SELECT resource_type, count(*) AS n FROM resource WHERE tenant_id = $1 AND NOT deleted
       AND ($2::text[] IS NULL OR resource_type = ANY($2::text[])) GROUP BY resource_type ORDER BY resource_type`,
    [tenant, job.types ?? null],
  );
  const jobId = randomUUID();
  const total = counts.rows.reduce((sum, r) => sum + Number(r.n), 0);
  await q.query(
    `INSERT INTO reindex_job (tenant_id, job_id, types, params, status, total, not_before)
     VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7::float8 / 1000))`,
    [tenant, jobId, job.types ?? counts.rows.map((r) => r.resource_type), job.params, counts.rows.length === 0 ? 'completed' : 'running', total, job.delayMs],
  );
  await queue.enqueue(q, tenant, reindexQueue(tenant), jobId, counts.rows.map((r, i) => ({ seq: i, payload: { type: r.resource_type } })));
  return { jobId, empty: counts.rows.length === 0 };
}

export async function loadJob(q: Queryable, tenant: string, jobId: string): Promise<ReindexJob | undefined> {
  const res = await q.query<JobRow>('SELECT * FROM reindex_job WHERE tenant_id = $1 AND job_id = $2', [tenant, jobId]);
  return res.rows[0] ? toJob(res.rows[0]) : undefined;
}

export async function jobProgress(q: Queryable, tenant: string, jobId: string): Promise<ReindexProgress | undefined> {
  const job = await loadJob(q, tenant, jobId);
  if (!job) return undefined;
  const res = await q.query<{ done: string | null }>('SELECT sum(done) AS done FROM reindex_cursor WHERE tenant_id = $1 AND job_id = $2', [tenant, jobId]);
  return { ...job, processed: Number(res.rows[0]?.done ?? 0) };
}

/** Where a type's task stands: the last id of its last committed batch. */
export async function loadCursor(q: Queryable, tenant: string, jobId: string, type: string): Promise<{ lastId: string; done: number } | undefined> {
  const res = await q.query<{ last_id: string; done: string }>(
    'SELECT last_id, done FROM reindex_cursor WHERE tenant_id = $1 AND job_id = $2 AND resource_type = $3',
    [tenant, jobId, type],
  );
  const r = res.rows[0];
  return r ? { lastId: r.last_id, done: Number(r.done) } : undefined;
}

export async function saveCursor(q: Queryable, tenant: string, jobId: string, type: string, lastId: string, count: number): Promise<void> {
  await q.query(
    `INSERT INTO reindex_cursor (tenant_id, job_id, resource_type, last_id, done) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (tenant_id, job_id, resource_type) DO UPDATE SET last_id = EXCLUDED.last_id, done = reindex_cursor.done + EXCLUDED.done`,
    [tenant, jobId, type, lastId, count],
  );
}

/** Completes (or fails) the job once its tasks are settled; a completed job makes its parameters ready everywhere. */
export async function settleJob(q: Queryable, queue: JobQueue, tenant: string, jobId: string, maxAttempts: number): Promise<void> {
  const counts = await queue.counts(tenant, jobId);
  const exhausted = await queue.exhausted(tenant, jobId, maxAttempts);
  if (exhausted > 0) {
    await q.query(`UPDATE reindex_job SET status = 'failed', finished_at = now() WHERE tenant_id = $1 AND job_id = $2 AND status = 'running'`, [tenant, jobId]);
    return;
  }
  if (counts.done < counts.total) return;
  await markCompleted(q, tenant, jobId);
}

/**
 * One statement, so atomic whatever the caller's transaction: whoever sees the
 * job completed also sees its parameters ready and the version bumped (nodes
 * reload on that), and a crash cannot leave a completed job's parameters
 * reindexing for ever.
 */
export async function markCompleted(q: Queryable, tenant: string, jobId: string): Promise<void> {
  await q.query(
    `WITH done AS (
       UPDATE reindex_job SET status = 'completed', finished_at = now() WHERE tenant_id = $1 AND job_id = $2 AND status = 'running' RETURNING job_id),
     ready AS (
       UPDATE custom_search_param SET reindex_job = NULL WHERE tenant_id = $1 AND reindex_job = $2 RETURNING code)
     INSERT INTO search_param_version (tenant_id, version)
     SELECT $1, 1 WHERE EXISTS (SELECT 1 FROM done) AND EXISTS (SELECT 1 FROM ready)
     ON CONFLICT (tenant_id) DO UPDATE SET version = search_param_version.version + 1`,
    [tenant, jobId],
  );
}
