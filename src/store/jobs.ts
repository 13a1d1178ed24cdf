import type { Queryable } from './db.js';

/**
 * A durable work queue in PostgreSQL (DESIGN §1: jobs live in the same
 * database). Workers lease one task at a time with FOR UPDATE SKIP LOCKED, so
 * two nodes never take the same task; a lease has an expiry, so a task whose
 * node died is taken again once it lapses. Completing or renewing is fenced by
 * the lease owner AND the attempt number: a node that lost its lease (it
 * stalled past the expiry and someone else took over) cannot overwrite the
 * newer attempt's outcome.
 */
export interface Task<P = unknown> {
  tenant: string;
  taskId: number;
  queue: string;
  jobId: string;
  seq: number;
  payload: P;
  attempts: number;
  owner: string;
}

export interface NewTask<P = unknown> {
  seq: number;
  payload: P;
}

export interface TaskCounts {
  total: number;
  done: number;
  failed: number;
  progress: number;
}

interface TaskRow {
  tenant_id: string;
  task_id: string;
  queue: string;
  job_id: string;
  seq: number;
  payload: unknown;
  attempts: number;
}

export function createJobQueue(db: Queryable) {
  return {
    /** Inserts a job's tasks (in the caller's transaction when `q` is one). */
    async enqueue<P>(q: Queryable, tenant: string, queue: string, jobId: string, tasks: NewTask<P>[]): Promise<void> {
      if (tasks.length === 0) return;
      await q.query(
        `INSERT INTO job_task (tenant_id, queue, job_id, seq, payload)
         SELECT $1, $2, $3, s, p::jsonb FROM UNNEST($4::int[], $5::text[]) AS u(s, p)`,
        [tenant, queue, jobId, tasks.map((t) => t.seq), tasks.map((t) => JSON.stringify(t.payload))],
      );
    },

    /** Leases the oldest available task of the queue(s), or undefined when there is none. */
    async lease<P>(queue: string | string[], owner: string, leaseMs: number, maxAttempts: number): Promise<Task<P> | undefined> {
      const res = await db.query<TaskRow>(
        `UPDATE job_task t SET status = 'running', lease_owner = $2, lease_until = now() + make_interval(secs => $3::float8 / 1000),
                attempts = t.attempts + 1, updated_at = now()
         WHERE t.task_id = (
           SELECT task_id FROM job_task
           WHERE queue = ANY($1::text[]) AND attempts < $4
             AND ((status = 'pending' AND (lease_until IS NULL OR lease_until <= now())) OR (status = 'running' AND lease_until < now()))
           ORDER BY task_id
           FOR UPDATE SKIP LOCKED
           LIMIT 1)
         RETURNING t.tenant_id, t.task_id, t.queue, t.job_id, t.seq, t.payload, t.attempts`,
        [typeof queue === 'string' ? [queue] : queue, owner, leaseMs, maxAttempts],
      );
      const r = res.rows[0];
      if (!r) return undefined;
      return { tenant: r.tenant_id, taskId: Number(r.task_id), queue: r.queue, jobId: r.job_id, seq: r.seq, payload: r.payload as P, attempts: r.attempts, owner };
    },

    /** Extends the lease and records progress; false when the lease was lost (stop working). */
    async renew(task: Task, leaseMs: number, progress: number): Promise<boolean> {
      const res = await db.query(
        `UPDATE job_task SET lease_until = now() + make_interval(secs => $4::float8 / 1000), progress = $5, updated_at = now()
         WHERE task_id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running'`,
        [task.taskId, task.owner, task.attempts, leaseMs, progress],
      );
      return (res.rowCount ?? 0) === 1;
    },

    /** Marks the task done inside `q` (the transaction recording its result); false when the lease was lost. */
    async complete(q: Queryable, task: Task, progress: number): Promise<boolean> {
      const res = await q.query(
        `UPDATE job_task SET status = 'done', progress = $4, lease_owner = NULL, lease_until = NULL, updated_at = now()
         WHERE task_id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running'`,
        [task.taskId, task.owner, task.attempts, progress],
      );
      return (res.rowCount ?? 0) === 1;
    },

    /**
     * Gives the task back, to be retried no sooner than `retryInMs` from now (a pending task's
     * lease_until is its earliest retry), or, after the last attempt, marks it failed.
     */
    async fail(task: Task, maxAttempts: number, reason: string, retryInMs = 0): Promise<void> {
      await db.query(
        `UPDATE job_task SET status = CASE WHEN attempts >= $4 THEN 'failed' ELSE 'pending' END,
                lease_owner = NULL, lease_until = now() + make_interval(secs => $6::float8 / 1000), last_error = $5, updated_at = now()
         WHERE task_id = $1 AND lease_owner = $2 AND attempts = $3`,
        [task.taskId, task.owner, task.attempts, maxAttempts, reason.slice(0, 500), retryInMs],
      );
    },

    /**
     * A statement that saves `checkpoint` into the task's payload (under `key`), fenced like
     * `complete`: run it in the transaction whose work it records, and roll back when it updates no
     * row (the lease was lost), so a stalled attempt cannot record work a newer attempt redoes.
     */
    checkpointSql(task: Task, key: string, checkpoint: unknown): { sql: string; params: unknown[] } {
      return {
        sql: `UPDATE job_task SET payload = jsonb_set(payload, ARRAY[$4::text], $5::jsonb), updated_at = now()
              WHERE task_id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running' RETURNING task_id`,
        params: [task.taskId, task.owner, task.attempts, key, JSON.stringify(checkpoint)],
      };
    },

    /** Gives the task back without spending an attempt (this node is stopping; the work was not at fault). */
    async release(task: Task): Promise<void> {
      await db.query(
        `UPDATE job_task SET status = 'pending', attempts = attempts - 1, lease_owner = NULL, lease_until = NULL, updated_at = now()
         WHERE task_id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running'`,
        [task.taskId, task.owner, task.attempts],
      );
    },

    async counts(tenant: string, jobId: string): Promise<TaskCounts> {
      const res = await db.query<{ total: string; done: string; failed: string; progress: string | null }>(
        `SELECT count(*) AS total, count(*) FILTER (WHERE status = 'done') AS done,
                count(*) FILTER (WHERE status = 'failed') AS failed, sum(progress) AS progress
         FROM job_task WHERE tenant_id = $1 AND job_id = $2`,
        [tenant, jobId],
      );
      const r = res.rows[0]!;
      return { total: Number(r.total), done: Number(r.done), failed: Number(r.failed), progress: Number(r.progress ?? 0) };
    },

    /** Tasks whose attempts ran out without finishing (a poison task) count as failed too. */
    async exhausted(tenant: string, jobId: string, maxAttempts: number): Promise<number> {
      const res = await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM job_task WHERE tenant_id = $1 AND job_id = $2 AND status <> 'done'
           AND (status = 'failed' OR (attempts >= $3 AND (status = 'pending' OR lease_until < now())))`,
        [tenant, jobId, maxAttempts],
      );
      return Number(res.rows[0]!.n);
    },

    async remove(q: Queryable, tenant: string, jobId: string): Promise<void> {
      await q.query('DELETE FROM job_task WHERE tenant_id = $1 AND job_id = $2', [tenant, jobId]);
    },
  };
}

export type JobQueue = ReturnType<typeof createJobQueue>;
