import type { Db, Queryable } from '../store/index.js';
import { emptyFrontier, frontierRoot, joinFrontier, type Frontier } from './merkle.js';
import { checkDbHeads, checkWitness, loadHeads, type Checkpoint } from './verify-heads.js';
import { rangeCount, runRanges, splitRanges } from './verify-parallel.js';
import type { RangeResult } from './verify-range.js';
import { loadPublicKeys } from './tree-head.js';
import { logSize } from './sequencer-round.js';
import { readWitness } from './witness.js';
import { prunedThrough } from './prune.js';
import { checkPrunedPrefix, type PrunedPrefix } from './verify-pruned.js';

export interface VerifyOptions {
  /** Start at the last signed head at or below this seq (its root vouches for the prefix). */
  fromSeq?: number;
  witnessPath?: string;
  /** Raw Ed25519 public keys the heads must be signed with (in addition to the witness's). */
  trustedKeys?: Buffer[];
  /** Compare searchable columns with the signed entry bytes (costs a JSON parse per entry). */
  checkColumns?: boolean;
  /** Stop listing after this many problems. */
  maxProblems?: number;
  /** Seq ranges verified at once, each on its own connection and thread (default: 2 on large logs). */
  parallelism?: number;
  /** Archive manifests (archive.ts): after a prune, the heads before the first kept seq are checked against them. */
  archiveDir?: string;
}

export interface WithheldEntries {
  tenant: string;
  entries: number;
  reason: string;
}

export interface VerifyReport {
  ok: boolean;
  /** Entries whose leaves were recomputed. */
  entries: number;
  logSize: number;
  startedAt: number;
  databaseHeads: number;
  witnessHeads: number;
  /** Entries committed but not yet sequenced (normal while the server runs). */
  pending: number;
  /**
   * Entries restored as leaf hashes only, per tenant: their tenant was
   * crypto-shredded before a restore (migration 030). The tree is verified
   * through them; their contents are gone by design.
   */
  withheld: WithheldEntries[];
  /** Entries before `firstKept` were pruned (migration 038); verification started there. */
  pruned: PrunedPrefix;
  problems: string[];
}

/**
 * Verifies the audit log offline: recomputes every leaf from the stored
 * canonical bytes and the tree from the leaves, checks every signed head
 * (database and witness) against the recomputed root at its size — which also
 * proves each head consistent with every earlier one — and names the first
 * entry that differs, a gap, a reordering or a truncation.
 */
export async function verifyAuditLog(q: Db, options: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: string[] = [];
  const witness = options.witnessPath ? readWitness(options.witnessPath) : { records: [], malformed: [] };
  for (const line of witness.malformed) problems.push(`witness line ${line} is not a tree head record`);
  const trusted = trustedKeys(options, witness.records.length > 0 ? Buffer.from(witness.records[0]!.publicKey, 'base64') : undefined);
  const heads = await loadHeads(q);
  const checkpoints = [...checkDbHeads(heads, await loadPublicKeys(q), trusted, problems), ...checkWitness(witness.records, trusted, problems)].sort((a, b) => a.size - b.size);
  // After a prune the log starts at the first kept seq: verification starts there by itself.
  const pruned = await prunedThrough(q);
  const start = startingPoint(heads, Math.max(options.fromSeq ?? 0, pruned.seq), problems);
  const startedAt = start.size;
  for (const c of checkpoints.filter((c) => c.size === start.size && c.size > 0)) {
    if (!frontierRoot(start).equals(c.root)) problems.push(`${c.label}: its root does not match the stored state at seq ${start.size} verification starts from`);
  }
  const prefix = checkPrunedPrefix(options.archiveDir, pruned.seq, checkpoints, trusted, problems);
  const walk = await walkLog(q, start, checkpoints.filter((c) => c.size > start.size), options, problems);
  for (const c of checkpoints) {
    if (c.size > walk.logSize) problems.push(`log truncated: ${c.label} covers ${c.size} entries but the log ends at seq ${walk.logSize - 1} (first missing seq ${walk.logSize})`);
  }
  const pending = await unsequenced(q, problems);
  const withheld = walk.withheld > 0 ? await withheldEntries(q, problems) : [];
  const limit = options.maxProblems ?? 50;
  return {
    ok: problems.length === 0,
    entries: walk.entries,
    logSize: walk.logSize,
    startedAt,
    databaseHeads: heads.length,
    witnessHeads: witness.records.length,
    pending,
    withheld,
    pruned: { firstKept: pruned.seq, ...(pruned.at ? { prunedAt: pruned.at } : {}), ...prefix },
    problems: problems.slice(0, limit),
  };
}

function trustedKeys(options: VerifyOptions, witnessKey: Buffer | undefined): Buffer[] | undefined {
  const keys = [...(options.trustedKeys ?? []), ...(witnessKey ? [witnessKey] : [])];
  return keys.length > 0 ? keys : undefined;
}

/** The frontier of the last head at or below `fromSeq`, checked against its signed root. */
function startingPoint(heads: Awaited<ReturnType<typeof loadHeads>>, fromSeq: number, problems: string[]): Frontier {
  const head = [...heads].reverse().find((h) => h.treeSize <= fromSeq);
  if (!head) return emptyFrontier();
  const frontier = { size: head.treeSize, hashes: head.frontier };
  if (!frontierRoot(frontier).equals(Buffer.from(head.rootHash, 'base64'))) {
    problems.push(`cannot start at seq ${fromSeq}: the stored state of the head at size ${head.treeSize} does not match its root; verify from 0`);
    return emptyFrontier();
  }
  return frontier;
}

async function walkLog(db: Db, start: Frontier, checkpoints: Checkpoint[], options: VerifyOptions, problems: string[]) {
  const end = Math.max(await logSize(db), start.size);
  const tasks = splitRanges(start.size, end, rangeCount(end - start.size, options.parallelism), {
    checkpoints: [...new Set(checkpoints.map((c) => c.size))],
    checkColumns: options.checkColumns !== false,
    maxProblems: options.maxProblems ?? 50,
  });
  return joinRanges(start, await runRanges(db, tasks), checkpoints, problems);
}

/**
 * Puts the ranges back together in seq order: a gap or reordering across a
 * range boundary, the ranges' own problems, and every checkpoint root,
 * computed from the frontier before the range joined with the range's
 * subtrees at that size. After a gap the ranges no longer start where the
 * tree before them ends; every later root is then reported as not matching.
 */
function joinRanges(start: Frontier, results: RangeResult[], checkpoints: Checkpoint[], problems: string[]) {
  const bySize = new Map<number, Checkpoint[]>();
  for (const c of checkpoints) bySize.set(c.size, [...(bySize.get(c.size) ?? []), c]);
  let frontier: Frontier | undefined = start;
  let expected = start.size;
  let lastEntry = -1;
  let firstChange: number | undefined;
  let lastGood = start.size;
  let entries = 0;
  let withheld = 0;
  for (const [i, r] of results.entries()) {
    if (i > 0 && r.firstSeq !== undefined) {
      if (r.firstSeq !== expected) {
        problems.push(`gap: seq ${expected}${r.firstSeq - 1 > expected ? `..${r.firstSeq - 1}` : ''} missing from the log (next present: seq ${r.firstSeq})`);
        firstChange ??= expected;
      }
      if (r.firstEntry! <= lastEntry) {
        problems.push(`seq ${r.firstSeq} (entry ${r.firstEntry}): comes after entry ${lastEntry} within one sequencing batch (reordered)`);
        firstChange ??= r.firstSeq;
      }
    }
    problems.push(...r.problems);
    if (r.problemCount > r.problems.length) problems.push(`… and ${r.problemCount - r.problems.length} more problems from seq ${r.from} on`);
    const aligned: Frontier | undefined = frontier?.size === r.frontier.start ? frontier : undefined;
    for (const cp of r.checkpoints) {
      const root = aligned ? frontierRoot(joinFrontier(aligned, cp.frontier)) : undefined;
      if (checkRoots(root, bySize.get(cp.size) ?? [], problems, firstChange ?? cp.firstChange, lastGood)) lastGood = cp.size;
    }
    frontier = aligned ? joinFrontier(aligned, r.frontier) : undefined;
    firstChange ??= r.firstChange;
    if (r.firstSeq !== undefined) {
      expected = r.expected;
      lastEntry = r.lastEntry;
    }
    entries += r.entries;
    withheld += r.withheld;
  }
  return { entries, withheld, logSize: expected };
}

/** Compares the recomputed root (undefined: could not be computed) with the checkpoints of one size; true when all agree. */
function checkRoots(root: Buffer | undefined, checkpoints: Checkpoint[], problems: string[], firstChange: number | undefined, lastGood: number): boolean {
  let ok = true;
  for (const c of checkpoints) {
    if (root?.equals(c.root)) continue;
    ok = false;
    const hint = firstChange !== undefined ? `first differing entry at seq ${firstChange}` : `the change lies between seq ${lastGood} and ${c.size - 1}`;
    problems.push(`${c.label}: its root does not match the log (entries altered, reordered or replaced; ${hint})`);
  }
  return ok;
}

/**
 * Withheld batches per tenant. Only a restore writes them, and only for a
 * tenant it could not restore: withheld entries of a tenant that still has
 * a usable key or resources are a deletion dressed up as a shred, and are
 * reported as one.
 */
async function withheldEntries(q: Queryable, problems: string[]): Promise<WithheldEntries[]> {
  const res = await q.query<{ tenant_id: string; n: string; reason: string; shredded: boolean }>(
    `SELECT b.tenant_id, sum(cardinality(b.leaf_hashes))::text AS n, min(b.withheld) AS reason,
            NOT EXISTS (SELECT 1 FROM data_key k WHERE k.tenant_id = b.tenant_id AND k.status <> 'destroyed')
              AND NOT EXISTS (SELECT 1 FROM resource r WHERE r.tenant_id = b.tenant_id) AS shredded
     FROM audit_batch b WHERE b.withheld IS NOT NULL GROUP BY b.tenant_id ORDER BY b.tenant_id`,
  );
  for (const r of res.rows) {
    if (!r.shredded) problems.push(`tenant ${r.tenant_id}: ${r.n} entries are withheld (leaf hashes only) but the tenant still has data or a usable key (entries removed)`);
  }
  return res.rows.map((r) => ({ tenant: r.tenant_id, entries: Number(r.n), reason: r.reason }));
}

/** Batches neither in the log nor queued were dropped from sequencing: a deletion from audit_batch_log. */
async function unsequenced(q: Queryable, problems: string[]): Promise<number> {
  const lost = await q.query<{ batch_id: string; n: number }>(
    `SELECT b.batch_id, cardinality(b.entries) AS n FROM audit_batch b
     WHERE NOT EXISTS (SELECT 1 FROM audit_batch_log l WHERE l.batch_id = b.batch_id)
       AND NOT EXISTS (SELECT 1 FROM audit_batch_queue q WHERE q.batch_id = b.batch_id)
     ORDER BY b.batch_id LIMIT 5`,
  );
  for (const r of lost.rows) {
    const ids = r.n === 1 ? `entry ${r.batch_id}` : `entries ${r.batch_id}..${BigInt(r.batch_id) + BigInt(r.n - 1)}`;
    problems.push(`${ids} (batch ${r.batch_id}) neither in the log nor queued for it (its log row was removed)`);
  }
  const pending = await q.query<{ n: string }>('SELECT coalesce(sum(cardinality(b.entries)), 0) AS n FROM audit_batch_queue q JOIN audit_batch b ON b.tenant_id = q.tenant_id AND b.batch_id = q.batch_id');
  return Number(pending.rows[0]!.n);
}
