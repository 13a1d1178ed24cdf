import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { appendLeaf, frontierRoot, leafHash, type Frontier } from './merkle.js';
import { publicKeyFromRaw, verifyTreeHead } from './tree-head.js';
import type { WitnessRecord } from './witness.js';

/**
 * An archived segment of the audit log (archive.ts): seq [from, to) between
 * two signed tree heads. The manifest holds no PHI (hashes, sizes, tenant
 * ids) and verifies WITHOUT keys: the frontier at `from` must fold to the
 * signed root at `from`, and extended by the segment's leaves it must give
 * the signed root at `to`. The entries themselves are in per-tenant blobs,
 * encrypted by the blob store; with the blob store (and so the keys) each
 * entry is also checked against its leaf.
 */
export interface ArchiveManifest {
  version: 1;
  from: number;
  to: number;
  /** The signed head at `from` (absent when from = 0) and at `to`, in witness form (with public key). */
  headFrom?: WitnessRecord;
  headTo: WitnessRecord;
  /** Frontier (perfect-subtree roots) of the tree of size `from`, base64. */
  frontierFrom: string[];
  tenants: string[];
  /** Per seq from..to-1: [index into tenants, leaf hash base64]. */
  leaves: [number, string][];
  /** Blob name (per tenant) holding the entries as JSON lines {seq, canonical (base64)}. */
  blob: string;
  /** Seqs whose entries were withheld (a shredded tenant's, restored as leaf hashes only): in `leaves`, not in any blob. */
  withheld?: number[];
}

export const manifestName = (from: number, to: number) => `${String(from).padStart(20, '0')}-${String(to).padStart(20, '0')}.json`;

/** Reads blobs back (the BlobStore's read). */
export type BlobReader = (tenant: string, name: string) => AsyncIterable<Buffer>;

function checkHead(label: string, h: WitnessRecord, size: number, trusted: Buffer[] | undefined, problems: string[]): void {
  const raw = Buffer.from(h.publicKey, 'base64');
  if (h.treeSize !== size) problems.push(`${label}: signed head is for size ${h.treeSize}, not ${size}`);
  if (trusted && !trusted.some((t) => t.equals(raw))) problems.push(`${label}: signed by key ${h.keyId}, which is not a trusted key`);
  if (raw.length !== 32 || !verifyTreeHead(h, publicKeyFromRaw(raw))) problems.push(`${label}: signature does not verify`);
}

/** Keyless checks of one manifest: heads, frontier, leaves → root. */
export function verifyManifest(m: ArchiveManifest, trusted?: Buffer[]): string[] {
  const problems: string[] = [];
  const label = `archive segment ${m.from}..${m.to - 1}`;
  checkHead(`${label} (head at ${m.to})`, m.headTo, m.to, trusted, problems);
  const frontier: Frontier = { size: m.from, hashes: m.frontierFrom.map((h) => Buffer.from(h, 'base64')) };
  if (m.from > 0) {
    if (!m.headFrom) problems.push(`${label}: no signed head at ${m.from}`);
    else {
      checkHead(`${label} (head at ${m.from})`, m.headFrom, m.from, trusted, problems);
      if (!frontierRoot(frontier).equals(Buffer.from(m.headFrom.rootHash, 'base64'))) problems.push(`${label}: its starting frontier does not match the signed root at ${m.from}`);
    }
  } else if (frontier.hashes.length > 0) problems.push(`${label}: a segment from 0 must start from the empty tree`);
  if (m.leaves.length !== m.to - m.from) problems.push(`${label}: holds ${m.leaves.length} leaves, not ${m.to - m.from}`);
  for (const [, leaf] of m.leaves) appendLeaf(frontier, Buffer.from(leaf, 'base64'));
  if (!frontierRoot(frontier).equals(Buffer.from(m.headTo.rootHash, 'base64'))) problems.push(`${label}: its leaves do not reach the signed root at ${m.to} (altered, missing or reordered)`);
  return problems;
}

/** With the keys (blob store): every archived entry's bytes hash to its leaf, none missing or extra. */
export async function verifyEntries(m: ArchiveManifest, read: BlobReader): Promise<string[]> {
  const problems: string[] = [];
  const withheld = new Set<number>(m.withheld ?? []);
  const seen = new Set<number>(withheld);
  for (const [t, tenant] of m.tenants.entries()) {
    // A tenant whose entries in the segment were all withheld has no blob.
    if (m.leaves.every(([ti], i) => ti !== t || withheld.has(m.from + i))) continue;
    let rest = '';
    const check = (line: string) => {
      if (line.trim() === '') return;
      const e = JSON.parse(line) as { seq: number; canonical: string };
      const at = m.leaves[e.seq - m.from];
      if (!at || at[0] !== t) problems.push(`archive seq ${e.seq}: not an entry of tenant ${tenant} in this segment`);
      else if (!leafHash(Buffer.from(e.canonical, 'base64')).equals(Buffer.from(at[1], 'base64'))) problems.push(`archive seq ${e.seq}: the entry's bytes differ from its leaf hash`);
      seen.add(e.seq);
    };
    // Streamed decoding: a blob's segments may end inside a UTF-8 character (the blob writer fills each
    // segment to the byte); archive lines are ASCII today, so this only keeps the reader correct in general.
    const utf8 = new TextDecoder();
    for await (const chunk of read(tenant, m.blob)) {
      const lines = (rest + utf8.decode(chunk, { stream: true })).split('\n');
      rest = lines.pop()!;
      lines.forEach(check);
    }
    check(rest + utf8.decode());
  }
  for (let s = m.from; s < m.to; s++) if (!seen.has(s)) problems.push(`archive seq ${s}: entry missing from the tenant blobs`);
  return problems;
}

/** Every manifest in `dir`, checked alone and as a chain from 0 (each starts where the last ended, under the same head). */
export function verifyArchiveDir(dir: string, trusted?: Buffer[]): { segments: ArchiveManifest[]; problems: string[] } {
  const names = readdirSync(dir).filter((n) => /^\d{20}-\d{20}\.json$/.test(n)).sort();
  const segments = names.map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as ArchiveManifest);
  const problems: string[] = [];
  let end = 0;
  let lastRoot: string | undefined;
  for (const m of segments) {
    if (m.from !== end) problems.push(`archive: segment ${m.from}..${m.to - 1} does not start where the previous one ended (${end})`);
    if (lastRoot !== undefined && m.headFrom?.rootHash !== lastRoot) problems.push(`archive: segment ${m.from}..${m.to - 1} starts from a different head than the previous one ended with`);
    problems.push(...verifyManifest(m, trusted));
    end = m.to;
    lastRoot = m.headTo.rootHash;
  }
  return { segments, problems };
}
