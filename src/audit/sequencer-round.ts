import { HavenError, type Clock } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { appendLeaf, emptyFrontier, frontierRoot, leafHash, type Frontier } from './merkle.js';
import { signTreeHead, type AuditSigningKey, type SignedTreeHead } from './tree-head.js';

export async function latestFrontier(q: Queryable): Promise<Frontier> {
  const res = await q.query<{ tree_size: string; frontier: Buffer[] }>(
    'SELECT tree_size, frontier FROM audit_tree_head ORDER BY tree_size DESC LIMIT 1',
  );
  const row = res.rows[0];
  return row ? { size: Number(row.tree_size), hashes: row.frontier } : emptyFrontier();
}

/**
 * One sequencing round, inside the leader's transaction: take the oldest
 * queued entries (those whose transactions have committed), give them the
 * next contiguous sequence numbers, extend the tree, sign the new head and
 * dequeue them — all or nothing. Returns the new head and how many entries it
 * added, or undefined when the queue was empty.
 */
export async function sequenceRound(tx: Queryable, key: AuditSigningKey, clock: Clock, batchSize: number): Promise<{ head: SignedTreeHead; count: number } | undefined> {
  const frontier = await latestFrontier(tx);
  const top = await tx.query<{ n: string }>('SELECT coalesce(max(seq) + 1, 0) AS n FROM audit_log');
  const logSize = Number(top.rows[0]!.n);
  if (logSize !== frontier.size) {
    // Never build on a log that disagrees with the last signed head: `haven audit verify` says why.
    throw new HavenError('fault', 'AUDIT_LOG_INCONSISTENT', `audit_log holds ${logSize} entries but the last tree head covers ${frontier.size}; run haven audit verify`);
  }
  const batch = await tx.query<{ entry_id: string; tenant_id: string; canonical: Buffer }>(
    `SELECT q.entry_id, e.tenant_id, e.canonical FROM audit_queue q JOIN audit_entry e ON e.entry_id = q.entry_id
     ORDER BY q.entry_id LIMIT $1 FOR UPDATE OF q`,
    [batchSize],
  );
  if (batch.rows.length === 0) return undefined;
  const seqs: number[] = [];
  const leaves: Buffer[] = [];
  for (const row of batch.rows) {
    seqs.push(frontier.size);
    const leaf = leafHash(row.canonical);
    leaves.push(leaf);
    appendLeaf(frontier, leaf);
  }
  const ids = batch.rows.map((r) => r.entry_id);
  await tx.query(
    `INSERT INTO audit_log (seq, tenant_id, entry_id, leaf_hash)
     SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bytea[])`,
    [seqs, batch.rows.map((r) => r.tenant_id), ids, leaves],
  );
  await tx.query('DELETE FROM audit_queue WHERE entry_id = ANY($1::bigint[])', [ids]);
  const head = signTreeHead(key, frontier.size, clock.now().getTime(), frontierRoot(frontier));
  await tx.query(
    `INSERT INTO audit_tree_head (tree_size, root_hash, timestamp_ms, key_id, signature, frontier)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [head.treeSize, Buffer.from(head.rootHash, 'base64'), head.timestampMs, head.keyId, Buffer.from(head.signature, 'base64'), frontier.hashes],
  );
  return { head, count: batch.rows.length };
}
