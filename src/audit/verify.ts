import type { Queryable } from '../store/index.js';
import { appendLeaf, emptyFrontier, frontierRoot, leafHash, type Frontier } from './merkle.js';
import { checkDbHeads, checkWitness, loadHeads, type Checkpoint } from './verify-heads.js';
import { checkColumns, type LogRow } from './verify-columns.js';
import { loadPublicKeys } from './tree-head.js';
import { readWitness } from './witness.js';

export interface VerifyOptions {
  /** Start at the last signed head at or below this seq (its root vouches for the prefix). */
  fromSeq?: number;
  witnessPath?: string;
  /** Raw Ed25519 public keys the heads must be signed with (in addition to the witness's). */
  trustedKeys?: Buffer[];
  batchSize?: number;
  /** Compare searchable columns with the signed entry bytes (costs a JSON parse per entry). */
  checkColumns?: boolean;
  /** Stop listing after this many problems. */
  maxProblems?: number;
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
  problems: string[];
}

/**
 * Verifies the audit log offline: recomputes every leaf from the stored
 * canonical bytes and the tree from the leaves, checks every signed head
 * (database and witness) against the recomputed root at its size — which also
 * proves each head consistent with every earlier one — and names the first
 * entry that differs, a gap, a reordering or a truncation.
 */
export async function verifyAuditLog(q: Queryable, options: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: string[] = [];
  const witness = options.witnessPath ? readWitness(options.witnessPath) : { records: [], malformed: [] };
  for (const line of witness.malformed) problems.push(`witness line ${line} is not a tree head record`);
  const trusted = trustedKeys(options, witness.records.length > 0 ? Buffer.from(witness.records[0]!.publicKey, 'base64') : undefined);
  const heads = await loadHeads(q);
  const checkpoints = [...checkDbHeads(heads, await loadPublicKeys(q), trusted, problems), ...checkWitness(witness.records, trusted, problems)].sort((a, b) => a.size - b.size);
  const start = startingPoint(heads, options.fromSeq ?? 0, problems);
  const startedAt = start.size; // the walk extends `start` in place
  const walk = await walkLog(q, start, checkpoints.filter((c) => c.size > start.size), options, problems);
  for (const c of checkpoints) {
    if (c.size > walk.logSize) problems.push(`log truncated: ${c.label} covers ${c.size} entries but the log ends at seq ${walk.logSize - 1} (first missing seq ${walk.logSize})`);
  }
  const pending = await unsequenced(q, problems);
  const limit = options.maxProblems ?? 50;
  return {
    ok: problems.length === 0,
    entries: walk.entries,
    logSize: walk.logSize,
    startedAt,
    databaseHeads: heads.length,
    witnessHeads: witness.records.length,
    pending,
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

async function walkLog(q: Queryable, frontier: Frontier, checkpoints: Checkpoint[], options: VerifyOptions, problems: string[]) {
  const batchSize = options.batchSize ?? 20_000;
  const boundaries = new Set(checkpoints.map((c) => c.size));
  let next = 0;
  let expected = frontier.size;
  let entries = 0;
  let previousEntry = -1;
  let firstChange: number | undefined;
  let lastGood = frontier.size;
  const fetchFrom = (seq: number) =>
    q.query<LogRow>(
      // Time as epoch ms and patients as one joined text: the driver's timestamp and array parsers
      // cost more per row than hashing the entry.
      `SELECT l.seq, l.entry_id, l.leaf_hash, e.canonical, e.tenant_id, e.action, e.outcome, e.subject, e.client_id,
              array_to_string(e.patient_ids, chr(31)) AS patients, (extract(epoch FROM e.recorded_at) * 1000)::bigint AS recorded_ms
       FROM audit_log l LEFT JOIN audit_entry e ON e.entry_id = l.entry_id
       WHERE l.seq >= $1 ORDER BY l.seq LIMIT $2`,
      [seq, batchSize],
    );
  let pending = fetchFrom(expected);
  for (;;) {
    const res = await pending;
    const more = res.rows.length === batchSize;
    // Read ahead: the database fetches the next batch while this one is hashed.
    if (more) pending = fetchFrom(Number(res.rows[res.rows.length - 1]!.seq) + 1);
    for (const row of res.rows) {
      const seq = Number(row.seq);
      const entryId = Number(row.entry_id);
      const where = `seq ${seq} (entry ${entryId})`;
      if (seq !== expected) {
        problems.push(`gap: seq ${expected}${seq - 1 > expected ? `..${seq - 1}` : ''} missing from the log (next present: seq ${seq})`);
        firstChange ??= expected;
        expected = seq;
      }
      let leaf: Buffer;
      if (row.canonical === null) {
        problems.push(`${where}: the entry is missing from audit_entry (deleted)`);
        leaf = row.leaf_hash;
        firstChange ??= seq;
      } else {
        leaf = leafHash(row.canonical);
        if (!leaf.equals(row.leaf_hash)) {
          problems.push(`${where}: the entry's bytes differ from its recorded leaf hash (altered)`);
          firstChange ??= seq;
        }
        if (options.checkColumns !== false) checkColumns(row, where, problems);
      }
      // The sequencer writes each batch in entry order; a decrease inside one batch is a reordering.
      if (entryId <= previousEntry) {
        problems.push(`${where}: comes after entry ${previousEntry} within one sequencing batch (reordered)`);
        firstChange ??= seq;
      }
      previousEntry = entryId;
      appendLeaf(frontier, leaf);
      expected = seq + 1;
      entries++;
      if (boundaries.has(frontier.size)) {
        previousEntry = -1;
        if (checkRoots(frontier, checkpoints.slice(next), problems, firstChange, lastGood)) lastGood = frontier.size;
        while (next < checkpoints.length && checkpoints[next]!.size <= frontier.size) next++;
      }
    }
    if (!more) break;
  }
  return { entries, logSize: expected };
}

/** Compares the recomputed root with every checkpoint at this size; true when all agree. */
function checkRoots(frontier: Frontier, checkpoints: Checkpoint[], problems: string[], firstChange: number | undefined, lastGood: number): boolean {
  const root = frontierRoot(frontier);
  let ok = true;
  for (const c of checkpoints) {
    if (c.size !== frontier.size || root.equals(c.root)) continue;
    ok = false;
    const hint = firstChange !== undefined ? `first differing entry at seq ${firstChange}` : `the change lies between seq ${lastGood} and ${c.size - 1}`;
    problems.push(`${c.label}: its root does not match the log (entries altered, reordered or replaced; ${hint})`);
  }
  return ok;
}

/** Entries neither in the log nor queued were dropped from sequencing: a deletion from audit_log. */
async function unsequenced(q: Queryable, problems: string[]): Promise<number> {
  const lost = await q.query<{ entry_id: string }>(
    `SELECT e.entry_id FROM audit_entry e
     WHERE NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.entry_id = e.entry_id)
       AND NOT EXISTS (SELECT 1 FROM audit_queue q WHERE q.entry_id = e.entry_id)
     ORDER BY e.entry_id LIMIT 5`,
  );
  for (const r of lost.rows) problems.push(`entry ${r.entry_id} is neither in the log nor queued for it (its log row was removed)`);
  const pending = await q.query<{ n: string }>('SELECT count(*) AS n FROM audit_queue');
  return Number(pending.rows[0]!.n);
}
