import type { Queryable } from '../store/index.js';
import { publicKeyFromRaw, verifyTreeHead, type SignedTreeHead } from './tree-head.js';
import type { WitnessRecord } from './witness.js';

/** A root the recomputed tree must reach at `size`: a database head or a witness line. */
export interface Checkpoint {
  size: number;
  root: Buffer;
  label: string;
}

export interface DbHead extends SignedTreeHead {
  frontier: Buffer[];
}

export async function loadHeads(q: Queryable): Promise<DbHead[]> {
  const res = await q.query<{ tree_size: string; root_hash: Buffer; timestamp_ms: string; key_id: string; signature: Buffer; frontier: Buffer[] }>(
    'SELECT tree_size, root_hash, timestamp_ms, key_id, signature, frontier FROM audit_tree_head ORDER BY tree_size',
  );
  return res.rows.map((r) => ({
    treeSize: Number(r.tree_size),
    rootHash: r.root_hash.toString('base64'),
    timestampMs: Number(r.timestamp_ms),
    keyId: r.key_id,
    signature: r.signature.toString('base64'),
    frontier: r.frontier,
  }));
}

export const headLabel = (source: string, h: SignedTreeHead) => `${source} tree head at size ${h.treeSize} (signed ${new Date(h.timestampMs).toISOString()})`;

/**
 * Checks the signature of every database head. With trusted keys (from the
 * witness or the operator), a head signed by any other key is a forgery even
 * if its signature is valid under a key the database itself supplies.
 */
export function checkDbHeads(heads: DbHead[], keys: Map<string, Buffer>, trusted: Buffer[] | undefined, problems: string[]): Checkpoint[] {
  const out: Checkpoint[] = [];
  for (const h of heads) {
    const label = headLabel('database', h);
    const raw = keys.get(h.keyId);
    if (!raw) {
      problems.push(`${label}: signed by key ${h.keyId}, which is not in audit_signing_key`);
      continue;
    }
    if (trusted && !trusted.some((t) => t.equals(raw))) {
      problems.push(`${label}: signed by key ${h.keyId}, which is not the trusted key (witness or --public-key): the log was replaced`);
    }
    if (!verifyTreeHead(h, publicKeyFromRaw(raw))) problems.push(`${label}: signature does not verify`);
    out.push({ size: h.treeSize, root: Buffer.from(h.rootHash, 'base64'), label });
  }
  return out;
}

/** Witness lines: well-formed, signed by the witness's own key, sizes never shrinking. */
export function checkWitness(records: WitnessRecord[], trusted: Buffer[] | undefined, problems: string[]): Checkpoint[] {
  const out: Checkpoint[] = [];
  const anchor = trusted ?? (records[0] ? [Buffer.from(records[0].publicKey, 'base64')] : []);
  let last = 0;
  for (const r of records) {
    const label = headLabel('witness', r);
    const raw = Buffer.from(r.publicKey, 'base64');
    if (!anchor.some((a) => a.equals(raw))) problems.push(`${label}: signed by a key the witness did not start with`);
    if (raw.length !== 32 || !verifyTreeHead(r, publicKeyFromRaw(raw))) problems.push(`${label}: signature does not verify`);
    if (r.treeSize < last) problems.push(`${label}: smaller than the previous witness head (${last}): the witness is not append-only`);
    last = Math.max(last, r.treeSize);
    out.push({ size: r.treeSize, root: Buffer.from(r.rootHash, 'base64'), label });
  }
  return out;
}
