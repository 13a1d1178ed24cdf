import { HavenError, type Clock } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { appendLeaf, emptyFrontier, frontierRoot, type Frontier } from './merkle.js';
import { signTreeHead, type AuditSigningKey, type SignedTreeHead } from './tree-head.js';

const LEAF_BYTES = 32;

/** Leaf hashes sent end to end, as views of the one buffer. */
function splitLeaves(joined: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < joined.length; at += LEAF_BYTES) out.push(joined.subarray(at, at + LEAF_BYTES));
  return out;
}

async function leafArray(q: Queryable, tenant: string, batchId: string): Promise<Buffer[]> {
  const res = await q.query<{ leaf_hashes: Buffer[] }>('SELECT leaf_hashes FROM audit_batch WHERE tenant_id = $1 AND batch_id = $2', [tenant, batchId]);
  return res.rows[0]!.leaf_hashes;
}

/**
 * The oldest queued batches with their leaf hashes, for one round ($1 batches at most).
 *
 * Only the leaf hashes travel: the batch's writer computed them from the entry bytes, and
 * verification recomputes every one of them from those bytes. They come as one bytea per batch
 * (the hashes end to end, in order): node-postgres parses a bytea[] element by element in
 * JavaScript, which cost more than all the hashing the round does. A batch whose hashes are not
 * all 32 bytes (none is written so) is read as an array, as before, and appended as it is.
 *
 * The queue is taken first, in batch order and limited, and each batch is then fetched by its
 * primary key in a fenced LATERAL (`OFFSET 0` keeps PostgreSQL from flattening it into a join it
 * may hash). Written as a plain join, the plan followed the queue's statistics: the queue is a
 * churn table (a row in, a row out for every batch), and after a backlog, or wherever autovacuum
 * is off, its row estimate stayed in the thousands while it held a few rows. PostgreSQL then
 * hashed the queue and scanned `audit_batch`, the whole retained log, sequentially, once a
 * second (a 1M-resource benchmark store: 47 ms and 5,700 buffers per round for 5 batches).
 */
export const QUEUED_BATCHES_SQL = `SELECT q.batch_id, q.tenant_id, b.leaves
     FROM (SELECT batch_id, tenant_id FROM audit_batch_queue ORDER BY batch_id LIMIT $1 FOR UPDATE) q
     CROSS JOIN LATERAL (
       SELECT (SELECT CASE WHEN count(h) = count(*) AND bool_and(octet_length(h) = ${LEAF_BYTES}) THEN string_agg(h, ''::bytea ORDER BY o) END
               FROM unnest(b.leaf_hashes) WITH ORDINALITY AS x(h, o)) AS leaves
       FROM audit_batch b WHERE b.tenant_id = q.tenant_id AND b.batch_id = q.batch_id OFFSET 0) b
     ORDER BY q.batch_id`;

export async function latestFrontier(q: Queryable): Promise<Frontier> {
  const res = await q.query<{ tree_size: string; frontier: Buffer[] }>(
    'SELECT tree_size, frontier FROM audit_tree_head ORDER BY tree_size DESC LIMIT 1',
  );
  const row = res.rows[0];
  return row ? { size: Number(row.tree_size), hashes: row.frontier } : emptyFrontier();
}

/**
 * Entries in the log: one past the last sequenced seq (0 when empty). A prune
 * (migration 038) may have removed every log row up to its point, so the
 * point counts too: the sequencer then continues from the head there.
 */
export async function logSize(q: Queryable): Promise<number> {
  const res = await q.query<{ n: string | null }>(
    `SELECT greatest((SELECT first_seq + count FROM audit_batch_log ORDER BY first_seq DESC LIMIT 1),
                     (SELECT max(through_seq) FROM audit_prune)) AS n`,
  );
  return res.rows[0]?.n ? Number(res.rows[0].n) : 0;
}

/**
 * One sequencing round, inside the leader's transaction: take the oldest
 * queued batches (those whose transactions have committed), give their
 * entries the next contiguous sequence numbers, extend the tree, sign the new
 * head and dequeue them — all or nothing. Returns the new head, how many
 * entries it added and how many batches it took (`maxBatches` means more may
 * be waiting), or undefined when the queue was empty. A round always
 * takes whole batches, so every signed head falls on a batch boundary.
 */
export async function sequenceRound(tx: Queryable, key: AuditSigningKey, clock: Clock, maxBatches: number): Promise<{ head: SignedTreeHead; count: number; batches: number } | undefined> {
  const frontier = await latestFrontier(tx);
  const size = await logSize(tx);
  if (size !== frontier.size) {
    // Never build on a log that disagrees with the last signed head: `haven audit verify` says why.
    throw new HavenError('fault', 'AUDIT_LOG_INCONSISTENT', `audit_log holds ${size} entries but the last tree head covers ${frontier.size}; run haven audit verify`);
  }
  const batch = await tx.query<{ batch_id: string; tenant_id: string; leaves: Buffer | null }>(QUEUED_BATCHES_SQL, [maxBatches]);
  if (batch.rows.length === 0) return undefined;
  const firstSeqs: number[] = [];
  const counts: number[] = [];
  let entries = 0;
  for (const row of batch.rows) {
    const leaves = row.leaves ? splitLeaves(row.leaves) : await leafArray(tx, row.tenant_id, row.batch_id);
    firstSeqs.push(frontier.size);
    counts.push(leaves.length);
    for (const leaf of leaves) appendLeaf(frontier, leaf);
    entries += leaves.length;
  }
  const ids = batch.rows.map((r) => r.batch_id);
  await tx.query(
    `INSERT INTO audit_batch_log (first_seq, tenant_id, batch_id, count)
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::int[])`,
    [firstSeqs, batch.rows.map((r) => r.tenant_id), ids, counts],
  );
  await tx.query('DELETE FROM audit_batch_queue WHERE batch_id = ANY($1::bigint[])', [ids]);
  const head = signTreeHead(key, frontier.size, clock.now().getTime(), frontierRoot(frontier));
  await tx.query(
    `INSERT INTO audit_tree_head (tree_size, root_hash, timestamp_ms, key_id, signature, frontier)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [head.treeSize, Buffer.from(head.rootHash, 'base64'), head.timestampMs, head.keyId, Buffer.from(head.signature, 'base64'), frontier.hashes],
  );
  return { head, count: entries, batches: batch.rows.length };
}
