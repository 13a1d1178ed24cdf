import { HavenError, type Principal } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { consistencyProof, frontierRoot, inclusionProof, leavesRoot, prunedRoot, PrunedRangeError, type RangeRoot } from './merkle.js';
import { prunedThrough } from './prune.js';
import { toWitnessRecord, type SignedHeadRow } from './witness.js';

/** A signed head as the API serves it, with the public key to check it under. */
export interface PublishedHead {
  treeSize: number;
  rootHash: string;
  timestampMs: number;
  keyId: string;
  signature: string;
  publicKey: string;
}

const AUDIT_SCOPE = /^system\/AuditEvent\.(read|\*|c?r[uds]*)$/;

/** Audit proofs are for administrators and auditors: an admin token, or a system AuditEvent read scope. */
export function requireAuditReader(principal: Principal): void {
  const admin = (principal as Principal & { isAdmin?: unknown }).isAdmin === true;
  if (admin || principal.scopes.some((s) => AUDIT_SCOPE.test(s))) return;
  throw new HavenError('forbidden', 'AUDIT_FORBIDDEN', 'The audit API needs an admin token or the scope system/AuditEvent.r');
}

export async function headAt(q: Queryable, treeSize?: number): Promise<PublishedHead> {
  const res = await q.query<SignedHeadRow>(
    `SELECT h.tree_size, h.root_hash, h.timestamp_ms, h.key_id, h.signature, k.public_key
     FROM audit_tree_head h JOIN audit_signing_key k USING (key_id)
     WHERE $1::bigint IS NULL OR h.tree_size = $1 ORDER BY h.tree_size DESC LIMIT 1`,
    [treeSize ?? null],
  );
  const r = res.rows[0];
  if (!r) {
    throw new HavenError('not-found', 'AUDIT_TREE_SIZE_UNKNOWN', treeSize === undefined ? 'No tree head has been signed yet' : `No signed tree head has size ${treeSize}; use the size of a published head`);
  }
  return toWitnessRecord(r);
}

/** `GET /audit/tree-head`: the newest head, and after a prune the first kept seq (proofs start there; a remote verifier must know). */
export async function newestHead(q: Queryable): Promise<PublishedHead & { firstKeptSeq?: number }> {
  const [head, pruned] = await Promise.all([headAt(q), prunedThrough(q)]);
  return pruned.seq > 0 ? { ...head, firstKeptSeq: pruned.seq } : head;
}

// Proofs are built from the stored leaf hashes of the prefix: O(n) per request, fine for audits, not for hot paths.
// After a prune (migration 038) the prefix before the first kept seq is stood for by the frontier
// stored with the signed head there (checked against its root): proofs about kept entries still
// work; those that need a pruned subtree answer AUDIT_ENTRY_PRUNED.
async function treeUpTo(q: Queryable, size: number): Promise<{ mth: RangeRoot; firstKept: number; leaf(seq: number): Buffer }> {
  const { seq: firstKept } = await prunedThrough(q);
  const res = await q.query<{ leaf_hashes: Buffer[] }>(
    `SELECT b.leaf_hashes FROM audit_batch_log l JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id
     WHERE l.first_seq >= $2 AND l.first_seq < $1 ORDER BY l.first_seq`,
    [size, firstKept],
  );
  const leaves = res.rows.flatMap((r) => r.leaf_hashes).slice(0, size - firstKept);
  if (firstKept === 0) return { mth: leavesRoot(leaves), firstKept, leaf: (seq) => leaves[seq]! };
  const head = await q.query<{ root_hash: Buffer; frontier: Buffer[] }>('SELECT root_hash, frontier FROM audit_tree_head WHERE tree_size = $1', [firstKept]);
  const frontier = { size: firstKept, hashes: head.rows[0]?.frontier ?? [] };
  if (!head.rows[0] || !frontierRoot(frontier).equals(head.rows[0].root_hash)) {
    throw new HavenError('fault', 'AUDIT_LOG_INCONSISTENT', `the stored state at the first kept seq ${firstKept} does not match its signed head; run haven audit verify`);
  }
  return { mth: prunedRoot(frontier, leaves), firstKept, leaf: (seq) => leaves[seq - firstKept]! };
}

function prunedError(firstKept: number, what: string): HavenError {
  return new HavenError('gone', 'AUDIT_ENTRY_PRUNED', `${what} needs entries before seq ${firstKept}, which were archived and removed from the database (haven audit prune); check it against the archive with haven audit verify --archive DIR`);
}

export function parseCount(raw: string | undefined, name: string, min: number): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < min) throw new HavenError('incorrect', 'AUDIT_BAD_PROOF_REQUEST', `${name} must be an integer ≥ ${min}`, { expression: [name] });
  return n;
}

export function requireCount(raw: string | undefined, name: string, min: number): number {
  const n = parseCount(raw, name, min);
  if (n === undefined) throw new HavenError('incorrect', 'AUDIT_BAD_PROOF_REQUEST', `${name} is required`, { expression: [name] });
  return n;
}

/** RFC 9162 inclusion proof of entry `seq` in the signed tree of `treeSize` (default: the newest head). */
export async function inclusion(q: Queryable, seq: number, treeSize?: number) {
  const head = await headAt(q, treeSize);
  if (seq >= head.treeSize) throw new HavenError('incorrect', 'AUDIT_BAD_PROOF_REQUEST', `seq ${seq} is not in a tree of size ${head.treeSize}`, { expression: ['seq'] });
  const entry = await q.query<{ canonical: Buffer }>(
    `SELECT b.entries[$1 - l.first_seq + 1] AS canonical
     FROM (SELECT * FROM audit_batch_log WHERE first_seq <= $1 ORDER BY first_seq DESC LIMIT 1) l
     JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id`,
    [seq],
  );
  const tree = await treeUpTo(q, head.treeSize);
  if (seq < tree.firstKept) throw prunedError(tree.firstKept, `An inclusion proof of seq ${seq}`);
  return {
    leafIndex: seq,
    treeSize: head.treeSize,
    leafHash: tree.leaf(seq).toString('base64'),
    entry: entry.rows[0]?.canonical.toString('base64'),
    inclusionPath: inclusionProof(tree.mth, seq, head.treeSize).map((h) => h.toString('base64')),
    treeHead: head,
  };
}

/** RFC 9162 consistency proof between two signed heads. */
export async function consistency(q: Queryable, from: number, to?: number) {
  const second = await headAt(q, to);
  const first = await headAt(q, from);
  if (first.treeSize > second.treeSize) throw new HavenError('incorrect', 'AUDIT_BAD_PROOF_REQUEST', 'from must not exceed to', { expression: ['from'] });
  const tree = await treeUpTo(q, second.treeSize);
  let path: Buffer[];
  try {
    path = consistencyProof(tree.mth, first.treeSize, second.treeSize);
  } catch (err) {
    if (err instanceof PrunedRangeError) throw prunedError(tree.firstKept, `A consistency proof from size ${first.treeSize}`);
    throw err;
  }
  return {
    first: first.treeSize,
    second: second.treeSize,
    consistencyPath: path.map((h) => h.toString('base64')),
    firstHead: first,
    secondHead: second,
  };
}
