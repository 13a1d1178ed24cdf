import type { Keyring, KeyPurpose } from '../../crypto/index.js';
import { HavenError, type Logger } from '../../kernel/index.js';
import type { Db, Queryable } from '../db.js';
import { createJobQueue, type Task } from '../jobs.js';
import { BLOB_TASK, sourceFor, type BatchSource } from './sources.js';
import { countSealedWith, SEALED_TABLES } from './tables.js';

/**
 * DEK rotation's background re-encryption, on the durable job queue
 * (src/store/jobs.ts): one job per rotation of one purpose, one task per place
 * holding that purpose's ciphertext (`resources`: one per sealed table;
 * `blobs`: the tenant's blob directory). A task walks its place in key order;
 * each batch's rewrite (rows: the swaps themselves) AND the task's cursor are
 * committed in one transaction fenced by the lease, so a stopped or crashed
 * worker resumes after the last committed batch.
 */
export const REENCRYPT_QUEUE = 'dek-reencrypt';
const MAX_ATTEMPTS = 20;

export interface ReencryptPayload {
  /** A sealed table, or `blobs` (the tenant's blob directory). */
  table: string;
  /** Absent in tasks queued before blobs could rotate: `resources`. */
  purpose?: KeyPurpose;
  toVersion: number;
  cursor: string[] | null;
  rewritten: number;
  /** Nodes may keep sealing with the old version for one key-ring refresh interval; a task does not finish before this. */
  notBefore: string;
  passes: number;
}

export const reencryptJobId = (purpose: string, toVersion: number) => `dek-${purpose}-v${toVersion}`;

/** Where each rotatable purpose keeps ciphertext: one task each. */
const placesOf = (purpose: KeyPurpose): string[] => (purpose === 'blobs' ? [BLOB_TASK] : SEALED_TABLES.map((t) => t.name));

/** Enqueues the re-encryption of a tenant's `purpose` data under `toVersion` (in `q`'s transaction). */
export async function enqueueReencryption(q: Queryable, tenant: string, toVersion: number, settleMs: number, purpose: KeyPurpose = 'resources'): Promise<string> {
  const jobId = reencryptJobId(purpose, toVersion);
  const notBefore = new Date(Date.now() + settleMs).toISOString();
  await createJobQueue(q).enqueue<ReencryptPayload>(
    q,
    tenant,
    REENCRYPT_QUEUE,
    jobId,
    placesOf(purpose).map((table, seq) => ({ seq, payload: { table, purpose, toVersion, cursor: null, rewritten: 0, notBefore, passes: 0 } })),
  );
  return jobId;
}

export interface ReencryptOptions {
  db: Db;
  keyring: Keyring;
  logger: Logger;
  owner: string;
  /** The local blob store's directory (for `blobs` tasks). */
  blobDir?: string;
  batchSize?: number;
  leaseMs?: number;
  /** Stop after this many batches (tests; a bounded slice of work per call). */
  maxBatches?: number;
  /** Return when the queue is empty instead of waiting. */
  signal?: AbortSignal;
}

export interface ReencryptRun {
  batches: number;
  rewritten: number;
  tasksDone: number;
}

/** Works the queue until it is empty, `maxBatches` is reached or `signal` aborts. */
export async function runReencryption(o: ReencryptOptions): Promise<ReencryptRun> {
  const jobs = createJobQueue(o.db);
  const leaseMs = o.leaseMs ?? 60_000;
  const run: ReencryptRun = { batches: 0, rewritten: 0, tasksDone: 0 };
  for (;;) {
    if (o.signal?.aborted || (o.maxBatches !== undefined && run.batches >= o.maxBatches)) return run;
    const task = await jobs.lease<ReencryptPayload>(REENCRYPT_QUEUE, o.owner, leaseMs, MAX_ATTEMPTS);
    if (!task) return run;
    try {
      const finished = await workTask(o, task, leaseMs, run);
      if (finished) run.tasksDone++;
      else await jobs.release(task);
    } catch (err) {
      const code = err instanceof HavenError ? err.code : 'ERROR';
      o.logger.warn({ task: task.taskId, code }, 'DEK re-encryption batch failed; the task will be retried');
      // A shredded tenant's rows can never be re-encrypted: fail the task now instead of retrying.
      await jobs.fail(task, code === 'CRYPTO_TENANT_SHREDDED' ? task.attempts : MAX_ATTEMPTS, code, 5000);
      throw err;
    }
  }
}

/** Returns true when the task completed, false when it stopped early (budget or abort). */
async function workTask(o: ReencryptOptions, task: Task<ReencryptPayload>, leaseMs: number, run: ReencryptRun): Promise<boolean> {
  const p = { ...task.payload };
  const source = sourceFor({ db: o.db, keyring: o.keyring, ...(o.blobDir !== undefined ? { blobDir: o.blobDir } : {}) }, task.tenant, p.table, p.toVersion);
  if (!source) throw new HavenError('fault', 'KEYS_REENCRYPT_TASK_INVALID', `Re-encryption task ${task.taskId} names an unknown table, or a blob task ran without a blob directory`);
  const size = o.batchSize ?? 500;
  for (;;) {
    if (o.signal?.aborted || (o.maxBatches !== undefined && run.batches >= o.maxBatches)) return false;
    const batch = await source.next(p.cursor, size);
    if (!batch) {
      if (await endOfPass(source, p)) return completeTask(o.db, task, p);
      continue;
    }
    await o.db.transaction(async (tx) => {
      p.rewritten += await batch.commit(tx);
      p.cursor = batch.cursor;
      await saveProgress(tx, task, p, leaseMs);
    });
    run.batches++;
    run.rewritten = p.rewritten;
  }
}

/**
 * At the end of a pass: done when the settle time has passed and nothing in
 * the tenant still uses an old version of this table; otherwise start again
 * from the top (rows written meanwhile by a node that had not yet seen the rotation).
 */
async function endOfPass(source: BatchSource, p: ReencryptPayload): Promise<boolean> {
  const wait = Date.parse(p.notBefore) - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, 10_000)));
  p.passes++;
  p.cursor = null;
  if (Date.parse(p.notBefore) > Date.now()) return false;
  return !(await source.anyLeft()) || p.passes > 50;
}

async function saveProgress(q: Queryable, task: Task, p: ReencryptPayload, leaseMs: number): Promise<void> {
  const res = await q.query(
    `UPDATE job_task SET payload = $4::jsonb, progress = $5, lease_until = now() + make_interval(secs => $6::float8 / 1000), updated_at = now()
     WHERE task_id = $1 AND lease_owner = $2 AND attempts = $3 AND status = 'running'`,
    [task.taskId, task.owner, task.attempts, JSON.stringify(p), p.rewritten, leaseMs],
  );
  if ((res.rowCount ?? 0) !== 1) throw new HavenError('unavailable', 'KEYS_REENCRYPT_LEASE_LOST', `Re-encryption task ${task.taskId} was taken over by another worker`);
}

async function completeTask(db: Db, task: Task, p: ReencryptPayload): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.query('UPDATE job_task SET payload = $2::jsonb WHERE task_id = $1', [task.taskId, JSON.stringify(p)]);
    return createJobQueue(tx).complete(tx, task, p.rewritten);
  });
}

/** Makes failed or backing-off tasks (e.g. a damaged row, since restored) available now, with fresh attempts. */
export async function retryFailedReencryption(db: Queryable): Promise<number> {
  const res = await db.query(
    `UPDATE job_task SET status = 'pending', attempts = 0, lease_owner = NULL, lease_until = NULL, updated_at = now()
     WHERE queue = $1 AND (status = 'failed' OR (status = 'pending' AND attempts > 0))`,
    [REENCRYPT_QUEUE],
  );
  return res.rowCount ?? 0;
}

/** Progress of every re-encryption job (for `haven keys status`). */
export async function reencryptionStatus(db: Queryable): Promise<{ tenant: string; jobId: string; table: string; status: string; rewritten: number; attempts: number; lastError: string | null }[]> {
  const res = await db.query<{ tenant_id: string; job_id: string; table: string; status: string; progress: string; attempts: number; last_error: string | null }>(
    `SELECT tenant_id, job_id, payload->>'table' AS table, status, progress, attempts, last_error FROM job_task
     WHERE queue = $1 ORDER BY tenant_id, job_id, seq`,
    [REENCRYPT_QUEUE],
  );
  return res.rows.map((r) => ({ tenant: r.tenant_id, jobId: r.job_id, table: r.table, status: r.status, rewritten: Number(r.progress), attempts: r.attempts, lastError: r.last_error }));
}

export { countSealedWith };
export { countBlobsSealedWith } from '../blob-reseal.js';
