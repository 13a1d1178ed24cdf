import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { asTenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { firstRetainedSeq, retentionCutoff } from './archive.js';
import { manifestName, verifyArchiveDir, verifyEntries, type ArchiveManifest, type BlobReader } from './archive-verify.js';
import { buildEntry, type AuditedContext } from './entry.js';
import { insertEntries } from './insert.js';

/**
 * `haven audit prune` (docs/security/audit.md, "Retention and archive";
 * docs/adr/0006-audit-prune.md): removes from PostgreSQL the audit batches
 * that are past retention AND lie in archive segments that verify — the
 * manifests without keys, the tenant blobs entry by entry with them — checked
 * right before anything is deleted. The prune point is always the end of an
 * archive segment, so a signed head whose frontier lets verification start
 * there; whole batches only (heads fall on batch boundaries). The deletion
 * itself is the database's audit_prune() (migration 038), which re-checks the
 * head, the registered segment and the retention floor, records the prune
 * point, and deletes in bounded steps, each its own transaction: an
 * interrupted prune resumes at the next run.
 */
export interface PruneOptions {
  manifestDir: string;
  /** The blob store's read (decrypts with the tenants' keys). */
  read: BlobReader;
  now: Date;
  retentionYears: number;
  /** Who runs it, for the audit entry and the prune record. */
  actor: string;
  /** False: a dry run that checks everything and reports what would go. */
  confirm: boolean;
  /** Connection whose role may EXECUTE audit_prune (default: the main one). */
  pruner?: Queryable;
  trustedKeys?: Buffer[];
  /** Batches deleted per audit_prune call (one transaction each). */
  step?: number;
}

export interface PruneReport {
  /** The first kept seq before this run (0: nothing pruned yet). */
  prunedBefore: number;
  /** The first kept seq this run prunes to (= prunedBefore when nothing is to go). */
  target: number;
  cutoff: Date;
  /** Segments newly checked (manifest and blobs) for this prune. */
  segments: { from: number; to: number }[];
  /** Batches and entries deleted by this run (0 on a dry run). */
  batches: number;
  entries: number;
  /** Why nothing was pruned, when something should have been checked and was not right. */
  problems: string[];
}

export const PRUNE_MIN_YEARS = 6;

/** The recorded prune point: every entry below it may have left PostgreSQL (0 when never pruned). */
export async function prunedThrough(q: Queryable): Promise<{ seq: number; at?: Date }> {
  const res = await q.query<{ through_seq: string; pruned_at: Date }>('SELECT through_seq, pruned_at FROM audit_prune ORDER BY through_seq DESC LIMIT 1');
  const r = res.rows[0];
  return r ? { seq: Number(r.through_seq), at: r.pruned_at } : { seq: 0 };
}

async function headRoot(q: Queryable, size: number): Promise<Buffer | undefined> {
  return (await q.query<{ root_hash: Buffer }>('SELECT root_hash FROM audit_tree_head WHERE tree_size = $1', [size])).rows[0]?.root_hash;
}

/** Every segment newly pruned must end at this log's head, verify entry by entry, and match (or be) its registration. */
async function checkSegment(q: Queryable, o: PruneOptions, m: ArchiveManifest, problems: string[]): Promise<void> {
  const label = `archive segment ${m.from}..${m.to - 1}`;
  const root = Buffer.from(m.headTo.rootHash, 'base64');
  const stored = await headRoot(q, m.to);
  // The manifest's leaves reach its signed root (verifyManifest); the same root here means the same leaves.
  if (!stored?.equals(root)) problems.push(`${label}: its signed head at ${m.to} is not this log's head of that size`);
  const digest = createHash('sha256').update(readFileSync(join(o.manifestDir, manifestName(m.from, m.to)))).digest();
  const reg = await q.query<{ manifest_sha256: Buffer }>('SELECT manifest_sha256 FROM audit_archive_segment WHERE to_seq = $1', [m.to]);
  if (reg.rows[0] && !reg.rows[0].manifest_sha256.equals(digest)) problems.push(`${label}: the manifest file changed since the segment was registered`);
  try {
    problems.push(...(await verifyEntries(m, o.read)).slice(0, 20));
  } catch (err) {
    // A missing blob, or one that does not decrypt (altered, or sealed for another tenant or name).
    problems.push(`${label}: a tenant blob cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
  if (problems.length === 0 && !reg.rows[0] && o.confirm) {
    await q.query('INSERT INTO audit_archive_segment (from_seq, to_seq, root_hash, manifest_sha256) VALUES ($1, $2, $3, $4)', [m.from, m.to, root, digest]);
  }
}

/** Checks, then (with `confirm`) records an audit entry and deletes. */
export async function pruneArchived(q: Queryable, o: PruneOptions): Promise<PruneReport> {
  if (o.retentionYears < PRUNE_MIN_YEARS) throw new Error(`audit prune keeps at least ${PRUNE_MIN_YEARS} years (HAVEN_AUDIT_RETENTION_YEARS is ${o.retentionYears})`);
  const cutoff = retentionCutoff(o.now, o.retentionYears);
  const before = (await prunedThrough(q)).seq;
  const report: PruneReport = { prunedBefore: before, target: before, cutoff, segments: [], batches: 0, entries: 0, problems: [] };
  const chain = existsSync(o.manifestDir) ? verifyArchiveDir(o.manifestDir, o.trustedKeys) : { segments: [], problems: [] };
  const limit = await firstRetainedSeq(q, cutoff);
  // Only segments wholly past retention; the chain is checked whole (each starts where the last ended).
  const candidates = chain.segments.filter((m) => m.to > before && m.to <= limit);
  report.problems.push(...chain.problems);
  if (report.problems.length === 0) {
    for (const m of candidates) {
      await checkSegment(q, o, m, report.problems);
      if (report.problems.length > 0) break;
      report.segments.push({ from: m.from, to: m.to });
    }
  }
  if (report.problems.length > 0) return report;
  report.target = candidates.at(-1)?.to ?? before;
  const leftover = await q.query<{ n: string }>('SELECT count(*) AS n FROM audit_batch_log WHERE first_seq < $1', [report.target]);
  if (!o.confirm || Number(leftover.rows[0]!.n) === 0) return report;
  const root = (await headRoot(q, report.target))!;
  // Recorded (committed) before any row goes, so the log itself says who removed what and when.
  await recordPrune(q, o.actor, report, 'success');
  const pruner = o.pruner ?? q;
  try {
    for (;;) {
      const res = await pruner.query<{ pruned_batches: string; pruned_entries: string }>('SELECT * FROM audit_prune($1, $2, $3, $4, $5)', [report.target, root, cutoff, o.actor, o.step ?? 10_000]);
      const n = Number(res.rows[0]!.pruned_batches);
      if (n === 0) return report;
      report.batches += n;
      report.entries += Number(res.rows[0]!.pruned_entries);
    }
  } catch (err) {
    // The database refused (or the connection failed): the log says so next to the entry above.
    await recordPrune(q, o.actor, report, 'failure');
    throw err;
  }
}

async function recordPrune(q: Queryable, actor: string, r: PruneReport, outcome: 'success' | 'failure'): Promise<void> {
  const ctx: AuditedContext = {
    tenant: asTenantId('default'),
    principal: { subject: actor, clientId: 'haven-cli', kind: 'system', scopes: [] },
    requestId: randomUUID(),
    audit: { action: 'operation', operation: 'audit-prune', resources: [], recorded: 0 },
  };
  const resources = [{ type: 'AuditEvent', id: `seq-0-${r.target - 1}` }];
  await insertEntries(q, [buildEntry(ctx, hostname(), new Date(), { action: 'operation', outcome, resources })]);
}
