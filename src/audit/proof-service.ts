import { HavenError, type Principal } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { consistencyProof, inclusionProof } from './merkle.js';
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

// Proofs are built from the stored leaf hashes of the prefix: O(n) per request, fine for audits, not for hot paths.
async function leavesUpTo(q: Queryable, size: number): Promise<Buffer[]> {
  const res = await q.query<{ leaf_hashes: Buffer[] }>(
    `SELECT b.leaf_hashes FROM audit_batch_log l JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id
     WHERE l.first_seq < $1 ORDER BY l.first_seq`,
    [size],
  );
  return res.rows.flatMap((r) => r.leaf_hashes).slice(0, size);
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
  const leaves = await leavesUpTo(q, head.treeSize);
  return {
    leafIndex: seq,
    treeSize: head.treeSize,
    leafHash: leaves[seq]!.toString('base64'),
    entry: entry.rows[0]?.canonical.toString('base64'),
    inclusionPath: inclusionProof(leaves, seq, head.treeSize).map((h) => h.toString('base64')),
    treeHead: head,
  };
}

/** RFC 9162 consistency proof between two signed heads. */
export async function consistency(q: Queryable, from: number, to?: number) {
  const second = await headAt(q, to);
  const first = await headAt(q, from);
  if (first.treeSize > second.treeSize) throw new HavenError('incorrect', 'AUDIT_BAD_PROOF_REQUEST', 'from must not exceed to', { expression: ['from'] });
  const leaves = await leavesUpTo(q, second.treeSize);
  return {
    first: first.treeSize,
    second: second.treeSize,
    consistencyPath: consistencyProof(leaves, first.treeSize, second.treeSize).map((h) => h.toString('base64')),
    firstHead: first,
    secondHead: second,
  };
}
