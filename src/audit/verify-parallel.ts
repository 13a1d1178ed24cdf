import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type pg from 'pg';
import type { Db } from '../store/index.js';
import type { RangeFrontier } from './merkle.js';
import { verifyRange, type RangeResult, type RangeTask } from './verify-range.js';

/** Below this many entries per range a second thread costs more than it saves. */
const MIN_RANGE = 250_000;

/** How many ranges to split [from, end) into: as asked, else one per core (at most 2) on large logs. */
export function rangeCount(entries: number, asked: number | undefined): number {
  if (asked !== undefined) return Math.max(1, Math.min(asked, entries));
  return Math.max(1, Math.min(2, availableParallelism(), Math.floor(entries / MIN_RANGE)));
}

/** Equal seq ranges over [from, end); the last one is open-ended (rows appended meanwhile are verified too). */
export function splitRanges(from: number, end: number, count: number, base: Omit<RangeTask, 'from' | 'to' | 'first'>): RangeTask[] {
  const step = Math.ceil((end - from) / count);
  return Array.from({ length: count }, (_, i) => {
    const lo = from + i * step;
    return { ...base, from: lo, first: i === 0, ...(i < count - 1 ? { to: Math.min(end, lo + step) } : {}) };
  }).filter((t) => t.to === undefined || t.to > t.from);
}

/**
 * Verifies the ranges at once: the first on a connection of `db` in this
 * thread, each other one in a worker thread with its own connection.
 */
export async function runRanges(db: Db, tasks: RangeTask[]): Promise<RangeResult[]> {
  const [head, ...rest] = tasks;
  const workers = rest.map((task) => inWorker(connectionOf(db.pool), task));
  const client = await db.pool.connect();
  let here: RangeResult;
  try {
    here = await verifyRange(client, head!);
  } finally {
    client.release();
  }
  return [here, ...(await Promise.all(workers))];
}

function connectionOf(pool: pg.Pool): pg.ClientConfig {
  const o = pool.options;
  const out: pg.ClientConfig = {};
  if (o.connectionString) out.connectionString = o.connectionString;
  if (o.host) out.host = o.host;
  if (o.port) out.port = o.port;
  if (o.user) out.user = o.user;
  if (typeof o.password === 'string') out.password = o.password;
  if (o.database) out.database = o.database;
  return out;
}

function inWorker(connection: pg.ClientConfig, task: RangeTask): Promise<RangeResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./verify-worker.js', import.meta.url), { workerData: { connection, task } });
    worker.once('message', (msg: { result?: RangeResult; error?: string; code?: string }) => {
      if (msg.result) resolve(revive(msg.result));
      else reject(Object.assign(new Error(msg.error ?? 'verify worker failed'), msg.code ? { code: msg.code } : {}));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`verify worker exited with code ${code}`)));
  });
}

/** Hashes cross the thread boundary as plain Uint8Arrays: make them Buffers again. */
function revive(r: RangeResult): RangeResult {
  const frontier = (f: RangeFrontier): RangeFrontier => ({ ...f, hashes: f.hashes.map((h) => Buffer.from(h.buffer, h.byteOffset, h.byteLength)) });
  return { ...r, frontier: frontier(r.frontier), checkpoints: r.checkpoints.map((c) => ({ ...c, frontier: frontier(c.frontier) })) };
}
