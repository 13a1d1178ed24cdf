import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Queryable } from '../store/index.js';
import { manifestName, type ArchiveManifest } from './archive-verify.js';
import { toWitnessRecord, type SignedHeadRow, type WitnessRecord } from './witness.js';

/**
 * Retention archive (docs/security/audit.md, Retention): entries older than
 * the retention period (HAVEN_AUDIT_RETENTION_YEARS, default 6) are exported
 * in segments between signed tree heads. Each segment is a keyless-verifiable
 * manifest (archive-verify.ts) plus, per tenant, one blob of that tenant's
 * entries, encrypted by the blob store under the tenant's key, so
 * crypto-shredding a tenant also shreds its archived audit details while the
 * tree still verifies. Resumable: a segment counts as done once its manifest
 * exists (written last, by rename).
 */
export interface ArchiveTarget {
  /** The blob store's create (encrypts per tenant). */
  create(tenant: string, name: string): Promise<{ write(data: string): Promise<void>; close(): Promise<unknown>; abort(): Promise<void> }>;
}

export interface ArchiveOptions {
  blobs: ArchiveTarget;
  /** Where manifests go (not PHI: hashes, sizes, tenant ids). */
  manifestDir: string;
  now: Date;
  retentionYears: number;
  /** Largest segment (entries); a segment always ends at a signed head. */
  maxEntries?: number;
}

export const archiveBlobName = (from: number, to: number) => `audit-archive/${String(from).padStart(20, '0')}-${String(to).padStart(20, '0')}.jsonl`;

export function archivedUpTo(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir)
    .map((n) => /^\d{20}-(\d{20})\.json$/.exec(n)?.[1])
    .reduce((max, to) => (to === undefined ? max : Math.max(max, Number(to))), 0);
}

export function retentionCutoff(now: Date, years: number): Date {
  const d = new Date(now.getTime());
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return d;
}

/** The first seq recorded at or after the cutoff (everything before it is past retention). */
export async function firstRetainedSeq(q: Queryable, cutoff: Date): Promise<number> {
  const res = await q.query<{ seq: string | null; n: string }>(
    // Whole batches: one that ends at or after the cutoff is retained entirely.
    `SELECT (SELECT min(l.first_seq) FROM audit_batch_log l JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id
             WHERE b.last_at >= $1) AS seq,
            greatest((SELECT coalesce(max(first_seq + count), 0) FROM audit_batch_log),
                     (SELECT coalesce(max(through_seq), 0) FROM audit_prune)) AS n`,
    [cutoff],
  );
  return res.rows[0]!.seq === null ? Number(res.rows[0]!.n) : Number(res.rows[0]!.seq);
}

const HEAD_SQL = `SELECT h.tree_size, h.root_hash, h.timestamp_ms, h.key_id, h.signature, k.public_key, h.frontier
  FROM audit_tree_head h JOIN audit_signing_key k USING (key_id)`;
type HeadRow = SignedHeadRow & { frontier: Buffer[] };

/** The segment end: the largest head ≤ from + max (or the first head after from), not past `limit`. */
async function nextBoundary(q: Queryable, from: number, limit: number, max: number): Promise<HeadRow | undefined> {
  const within = await q.query<HeadRow>(`${HEAD_SQL} WHERE h.tree_size > $1 AND h.tree_size <= $2 ORDER BY h.tree_size DESC LIMIT 1`, [from, Math.min(limit, from + max)]);
  if (within.rows[0]) return within.rows[0];
  const first = await q.query<HeadRow>(`${HEAD_SQL} WHERE h.tree_size > $1 AND h.tree_size <= $2 ORDER BY h.tree_size LIMIT 1`, [from, limit]);
  return first.rows[0];
}

async function headAt(q: Queryable, size: number): Promise<HeadRow | undefined> {
  return (await q.query<HeadRow>(`${HEAD_SQL} WHERE h.tree_size = $1`, [size])).rows[0];
}

/** Writes the tenant blobs, then the manifest. */
async function writeSegment(q: Queryable, o: ArchiveOptions, from: number, to: HeadRow, start: HeadRow | undefined): Promise<ArchiveManifest> {
  const size = Number(to.tree_size);
  const rows = await q.query<{ seq: string; tenant_id: string; leaf_hash: Buffer; canonical: Buffer | null }>(
    // Segments start and end at signed heads, which fall on batch boundaries.
    `SELECT l.first_seq + u.ord - 1 AS seq, l.tenant_id, u.leaf_hash, u.canonical
     FROM audit_batch_log l JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id
     CROSS JOIN LATERAL unnest(b.leaf_hashes, b.entries) WITH ORDINALITY AS u(leaf_hash, canonical, ord)
     WHERE l.first_seq >= $1 AND l.first_seq < $2 ORDER BY l.first_seq, u.ord`,
    [from, size],
  );
  const tenants = [...new Set(rows.rows.map((r) => r.tenant_id))].sort();
  // Withheld entries (a shredded tenant's, restored as leaf hashes only: migration 030) have no bytes to archive.
  const withheld = rows.rows.filter((r) => r.canonical === null).map((r) => Number(r.seq));
  const blob = archiveBlobName(from, size);
  for (const tenant of tenants) {
    const kept = rows.rows.filter((r): r is typeof r & { canonical: Buffer } => r.tenant_id === tenant && r.canonical !== null);
    if (kept.length === 0) continue;
    const w = await o.blobs.create(tenant, blob);
    try {
      const lines = kept.map((r) => `${JSON.stringify({ seq: Number(r.seq), canonical: r.canonical.toString('base64') })}\n`);
      for (let i = 0; i < lines.length; i += 1000) await w.write(lines.slice(i, i + 1000).join(''));
      await w.close();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }
  const headTo: WitnessRecord = toWitnessRecord(to);
  const manifest: ArchiveManifest = {
    version: 1, from, to: size, headTo, blob, tenants,
    ...(start ? { headFrom: toWitnessRecord(start) } : {}),
    frontierFrom: (start?.frontier ?? []).map((h) => h.toString('base64')),
    leaves: rows.rows.map((r) => [tenants.indexOf(r.tenant_id), r.leaf_hash.toString('base64')]),
    ...(withheld.length > 0 ? { withheld } : {}),
  };
  const path = join(o.manifestDir, manifestName(from, size));
  writeFileSync(`${path}.partial`, JSON.stringify(manifest), { mode: 0o640 });
  renameSync(`${path}.partial`, path);
  return manifest;
}

/** Archives every complete segment past retention not archived yet; returns the new segments. */
export async function archiveOldEntries(q: Queryable, o: ArchiveOptions): Promise<ArchiveManifest[]> {
  mkdirSync(o.manifestDir, { recursive: true, mode: 0o750 });
  const limit = await firstRetainedSeq(q, retentionCutoff(o.now, o.retentionYears));
  const done: ArchiveManifest[] = [];
  for (let from = archivedUpTo(o.manifestDir); ; ) {
    const to = await nextBoundary(q, from, limit, o.maxEntries ?? 100_000);
    if (!to) return done;
    const start = from === 0 ? undefined : await headAt(q, from);
    done.push(await writeSegment(q, o, from, to, start));
    from = Number(to.tree_size);
  }
}
