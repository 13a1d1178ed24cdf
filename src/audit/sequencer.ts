import { describeFailure } from './recorder.js';
import type pg from 'pg';
import type { Clock, Logger } from '../kernel/index.js';
import type { Db, Queryable } from '../store/index.js';
import { sequenceRound } from './sequencer-round.js';
import type { Kms } from '../crypto/index.js';
import { loadSigningKey } from './signing-key.js';
import type { AuditSigningKey } from './tree-head.js';
import type { S3Witness, WitnessStatus } from './witness-s3.js';
import { appendWitness, headsAfter, lastWitnessSize } from './witness.js';

// Session advisory lock: whoever holds it is the one sequencer among all Haven nodes.
export const SEQUENCER_LOCK = 7_421_002;

export interface SequencerOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** Append-only witness file (`<dataDir>/audit/witness.jsonl`). */
  witnessPath: string;
  /** Cadence of rounds (and so of signed heads when there are new entries). */
  intervalMs: number;
  /** Batches (commit units) per round at most. */
  batchSize?: number;
  /** Wraps the tree-head signing key at rest; undefined only when encryption at rest is off (test). */
  kms?: Kms;
  /** Tenant the signing key's audit entries are filed under (default `default`). */
  tenant?: string;
  /** The S3 witness (Object Lock bucket), when configured. */
  s3Witness?: S3Witness;
}

export interface Sequencer {
  /** Runs rounds at the cadence while this node holds the leader lock; retries leadership otherwise. */
  start(): void;
  stop(): Promise<void>;
  /** Becomes leader if it can and sequences everything queued now; returns entries sequenced (tests, CLI). */
  drain(): Promise<number>;
  readonly isLeader: boolean;
  /** The S3 witness's state (readiness, metrics); undefined when none is configured. */
  witnessStatus(): WitnessStatus | undefined;
}

export function createSequencer(options: SequencerOptions): Sequencer {
  const { db, clock, logger } = options;
  const batchSize = options.batchSize ?? 1_000;
  let leader: pg.PoolClient | undefined;
  let key: AuditSigningKey | undefined;
  let witnessed = -1;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();

  async function lead(): Promise<pg.PoolClient | undefined> {
    if (leader) return leader;
    const client = await db.pool.connect();
    const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [SEQUENCER_LOCK]).catch(() => undefined);
    if (!got?.rows[0]?.ok) {
      client.release();
      return undefined;
    }
    client.on('error', () => undefined);
    try {
      key = await inTransaction(client, () => loadSigningKey(client, { kms: options.kms, logger, tenant: options.tenant ?? 'default' }));
    } catch (err) {
      logger.error({ err: describeFailure(err) }, 'audit sequencer: cannot load the tree-head signing key (KMS?); not leading');
      await client.query('SELECT pg_advisory_unlock($1)', [SEQUENCER_LOCK]).catch(() => undefined);
      client.release();
      throw err;
    }
    leader = client;
    logger.info({ keyId: key.keyId }, 'audit sequencer: this node is the leader');
    return client;
  }

  function resign(err: unknown): void {
    logger.error({ err: describeFailure(err) }, 'audit sequencer round failed; giving up leadership');
    // Destroying the connection releases the session lock, so another node can take over.
    leader?.release(true);
    leader = undefined;
    key = undefined; // the private key lives only for a leadership term
  }

  async function round(client: pg.PoolClient): Promise<{ entries: number; full: boolean }> {
    const done = await inTransaction(client, () => sequenceRound(client, key!, clock, batchSize));
    await catchUpWitness(client);
    return { entries: done?.count ?? 0, full: done !== undefined && done.batches >= batchSize };
  }

  /** Appends every committed head the witness file does not have yet (also after a crash). */
  async function catchUpWitness(q: Queryable): Promise<void> {
    if (witnessed < 0) witnessed = lastWitnessSize(options.witnessPath);
    const records = await headsAfter(q, witnessed);
    await appendWitness(options.witnessPath, records);
    if (records.length > 0) witnessed = records[records.length - 1]!.treeSize;
  }

  // Rounds share the leader's one connection: a drain() from shutdown or a test while a timed
  // round runs would interleave two transactions on it. One at a time, in call order.
  let queue: Promise<unknown> = Promise.resolve();
  function drain(): Promise<number> {
    const next = queue.then(drainOnce, drainOnce);
    queue = next.catch(() => undefined);
    return next;
  }

  async function drainOnce(): Promise<number> {
    const client = await lead();
    if (!client) return 0;
    let sequenced = 0;
    try {
      // Another round only while the last one was full (a backlog): a round that took fewer than
      // batchSize took every batch committed before it began, so all that was queued at the call is
      // sequenced. Looping until a round came back empty kept a busy node's leader in back-to-back
      // rounds (~6/s at c16 reads: ten statements, a signature and a witness fsync each) instead of
      // one per intervalMs, the cadence the heads are documented to follow.
      for (let r = await round(client); ; r = await round(client)) {
        sequenced += r.entries;
        if (!r.full) break;
      }
      // Once per drain, never throws: a bucket outage must not stop sequencing; the next drain retries.
      await options.s3Witness?.publish(client, clock.now().getTime());
    } catch (err) {
      resign(err);
      throw err;
    }
    return sequenced;
  }

  function tick(): void {
    running = drain()
      .catch(() => undefined)
      .finally(() => {
        if (timer !== undefined) timer = setTimeout(tick, options.intervalMs).unref();
      });
  }

  return {
    start() {
      if (timer !== undefined) return;
      timer = setTimeout(tick, options.intervalMs).unref();
    },
    async stop() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running;
      if (leader) {
        await options.s3Witness?.publish(leader, clock.now().getTime(), true);
        await leader.query('SELECT pg_advisory_unlock($1)', [SEQUENCER_LOCK]).catch(() => undefined);
        leader.release();
        leader = undefined;
        key = undefined;
      }
    },
    drain,
    get isLeader() {
      return leader !== undefined;
    },
    witnessStatus: () => options.s3Witness?.status(),
  };
}

async function inTransaction<T>(client: pg.PoolClient, work: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const out = await work();
    await client.query('COMMIT');
    return out;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
