import { hash } from 'node:crypto';
import type pg from 'pg';
import { appendRangeLeaf, emptyRangeFrontier, type RangeFrontier } from './merkle.js';
import { batchColumns as decodeBatchColumns, checkColumns, type BatchColumns } from './verify-columns.js';
import { copyTuples, int8At, type Tuple } from './verify-copy.js';

/** One seq range of the log to verify: rows with from <= seq < to (no upper bound when `to` is undefined). */
export interface RangeTask {
  from: number;
  to?: number;
  /** True for the first range: a gap before its first row is reported here (later ranges: by the caller). */
  first: boolean;
  /** Tree sizes with a signed head to check; the range records its subtrees when it reaches one. */
  checkpoints: number[];
  checkColumns: boolean;
  /** Problems listed at most (the rest are counted). */
  maxProblems: number;
}

/** The range's subtrees when the tree reached a checkpoint size, and the first change seen by then. */
export interface RangeCheckpoint {
  size: number;
  frontier: RangeFrontier;
  firstChange?: number;
}

export interface RangeResult {
  from: number;
  firstSeq?: number;
  firstEntry?: number;
  /** Entry id of the last row since the last checkpoint (-1 right after one): for the reordering check across ranges. */
  lastEntry: number;
  /** One past the last seq present (= from when the range is empty). */
  expected: number;
  entries: number;
  /** Entries of withheld batches (migration 030): present as leaf hashes only, checked by the caller. */
  withheld: number;
  firstChange?: number;
  frontier: RangeFrontier;
  checkpoints: RangeCheckpoint[];
  problems: string[];
  problemCount: number;
}

// Each log row (one sequenced batch) expands into its entries. The third array only pads the
// expansion to the sequenced count, so a deleted batch still yields one (empty) row per seq; rows
// past the count are entries added to the batch after it was sequenced. The last column marks a
// batch restored without its entries (a shredded tenant's, migration 030).
const BASE_COLUMNS = `l.first_seq + u.ord - 1, l.batch_id + u.ord - 1, u.leaf, u.canonical, u.ord > l.count, b.withheld IS NOT NULL`;
// Batch columns the searches rely on; time as epoch ms and patients as one joined text (cheap to
// compare). They are the same for every entry of a batch, so only the first row of each batch in the
// range carries them (the rest are NULL) with the batch id beside it: building the joined patients
// per entry row doubled PostgreSQL's CPU per entry, and decoding them per entry the verifier's.
const batchColumns = (first: string) =>
  `l.batch_id, ${['b.tenant_id', 'array_to_string(b.patient_ids, chr(31))', '(extract(epoch FROM b.first_at) * 1000)::bigint', '(extract(epoch FROM b.last_at) * 1000)::bigint', 'array_to_string(b.agent_ids, chr(31))', 'array_to_string(b.entity_ids, chr(31))', 'b.failed::text']
    .map((c) => `CASE WHEN ${first} THEN ${c} END`)
    .join(', ')}`;
const FIELDS = 6;
const FIELDS_WITH_COLUMNS = 14;

export function rangeSelect(task: Pick<RangeTask, 'from' | 'to' | 'checkColumns'>): string {
  const bound = (n: number) => String(Math.trunc(n)); // COPY takes no parameters: integers only
  const seq = 'l.first_seq + u.ord - 1';
  // A batch holds at most 4096 entries (migration 020), so the one holding `from` starts after from - 4096.
  const firstOfBatch = `(u.ord = 1 OR ${seq} = ${bound(task.from)})`;
  return `SELECT ${BASE_COLUMNS}${task.checkColumns ? `, ${batchColumns(firstOfBatch)}` : ''}
    FROM audit_batch_log l
    LEFT JOIN audit_batch b ON b.tenant_id = l.tenant_id AND b.batch_id = l.batch_id
    CROSS JOIN LATERAL unnest(b.leaf_hashes, b.entries, array_fill(true, ARRAY[l.count])) WITH ORDINALITY AS u(leaf, canonical, pad, ord)
    WHERE l.first_seq > ${bound(task.from - 4096)} AND ${seq} >= ${bound(task.from)}${task.to !== undefined ? ` AND l.first_seq < ${bound(task.to)} AND ${seq} < ${bound(task.to)}` : ''}
    ORDER BY l.first_seq, u.ord`;
}

/**
 * Streams the range's rows (one COPY) and checks each one as `verifyAuditLog`
 * describes: leaf recomputed from the canonical bytes and compared with the
 * recorded one, columns against the signed entry, gaps, deletions, reorderings
 * within a sequencing batch. Roots are compared by the caller, which joins the
 * ranges' subtrees onto the frontier before them.
 */
export async function verifyRange(client: pg.ClientBase, task: RangeTask): Promise<RangeResult> {
  const walk = new RangeWalk(task);
  // One plan, one backend per range: walk audit_log in seq order and look each entry up by id (no
  // sort of the range, no hash table of it); the ranges themselves are the parallelism.
  await client.query(`SET ${PLAN.map(([k, v]) => `${k} = ${v}`).join('; SET ')}`);
  try {
    await copyTuples(client, rangeSelect(task), task.checkColumns ? FIELDS_WITH_COLUMNS : FIELDS, (t) => walk.row(t));
  } finally {
    await client.query(`RESET ${PLAN.map(([k]) => k).join('; RESET ')}`);
  }
  return walk.result();
}

const PLAN = [
  ['enable_hashjoin', 'off'],
  ['enable_mergejoin', 'off'],
  ['enable_sort', 'off'],
  ['max_parallel_workers_per_gather', '0'],
] as const;

const LEAF_PREFIX = 0;
const MISSING_LEAF = Buffer.alloc(32);

class RangeWalk {
  private readonly frontier: RangeFrontier;
  private readonly boundaries: Set<number>;
  private readonly checkpoints: RangeCheckpoint[] = [];
  private readonly problems: string[] = [];
  private problemCount = 0;
  private expected: number;
  private entries = 0;
  private withheld = 0;
  private previousEntry = -1;
  private firstSeq: number | undefined;
  private firstEntry: number | undefined;
  private firstChange: number | undefined;
  /** The columns of the batch the walk is in: sent once per batch (see batchColumns). */
  private batch: { id: number; columns: BatchColumns } | undefined;

  constructor(private readonly task: RangeTask) {
    this.frontier = emptyRangeFrontier(task.from);
    this.boundaries = new Set(task.checkpoints);
    this.expected = task.from;
  }

  private problem(text: string, seq: number): void {
    this.problemCount++;
    if (this.problems.length < this.task.maxProblems) this.problems.push(text);
    this.firstChange ??= seq;
  }

  row(t: Tuple): void {
    const { buf, start, end } = t;
    const seq = int8At(buf, start[0]!);
    const entryId = int8At(buf, start[1]!);
    if (this.task.checkColumns) this.noteBatch(t);
    if (buf[start[4]!] === 1) {
      // Not part of the tree: an entry added to a batch after it was sequenced (it would show in searches).
      this.problem(`entry ${entryId}: in its batch beyond the entries that were sequenced (inserted)`, seq);
      return;
    }
    if (this.firstSeq === undefined) {
      this.firstSeq = seq;
      this.firstEntry = entryId;
      if (!this.task.first) this.expected = seq;
    }
    if (seq !== this.expected) this.problem(`gap: seq ${this.expected}${seq - 1 > this.expected ? `..${seq - 1}` : ''} missing from the log (next present: seq ${seq})`, this.expected);
    let leaf: Buffer;
    if (start[3] === -1 && start[2] !== -1 && buf[start[5]!] === 1) {
      // Withheld (restored without a shredded tenant's entries): its recorded leaf stands in, and the
      // roots of the signed heads prove those leaves are the ones that were signed.
      leaf = Buffer.from(buf.subarray(start[2]!, end[2]!));
      this.withheld++;
    } else if (start[3] === -1) {
      this.problem(`seq ${seq} (entry ${entryId}): the entry is missing from audit_batch (deleted)`, seq);
      // Without the entry its leaf is unknown: a stand-in keeps the walk going, and later roots then differ.
      leaf = start[2] === -1 ? MISSING_LEAF : Buffer.from(buf.subarray(start[2]!, end[2]!));
    } else {
      // Leaf = SHA-256(0x00 ‖ entry): the byte before the field (the low byte of its length, already
      // read) becomes the 0x00 prefix, so the entry is hashed in place without a copy.
      buf[start[3]! - 1] = LEAF_PREFIX;
      leaf = hash('sha256', buf.subarray(start[3]! - 1, end[3]!), 'buffer');
      if (start[2] === -1) this.problem(`seq ${seq} (entry ${entryId}): its recorded leaf hash is missing (altered)`, seq);
      else if (leaf.compare(buf, start[2]!, end[2]!) !== 0) this.problem(`seq ${seq} (entry ${entryId}): the entry's bytes differ from its recorded leaf hash (altered)`, seq);
      if (this.task.checkColumns) {
        const wrong = checkColumns(this.batch!.columns, buf.subarray(start[3]!, end[3]!));
        if (wrong) this.problem(`seq ${seq} (entry ${entryId}): ${wrong}`, seq);
      }
    }
    // The sequencer writes each batch in entry order; a decrease inside one batch is a reordering.
    if (entryId <= this.previousEntry) this.problem(`seq ${seq} (entry ${entryId}): comes after entry ${this.previousEntry} within one sequencing batch (reordered)`, seq);
    this.previousEntry = entryId;
    appendRangeLeaf(this.frontier, leaf);
    this.expected = seq + 1;
    this.entries++;
    const size = this.frontier.start + this.frontier.size;
    if (this.boundaries.has(size)) {
      this.previousEntry = -1;
      this.checkpoints.push({ size, frontier: copyOf(this.frontier), ...(this.firstChange !== undefined ? { firstChange: this.firstChange } : {}) });
    }
  }

  /** Takes the batch's columns from its first row in the range, whether or not that row's entry is there. */
  private noteBatch(t: Tuple): void {
    const { buf, start, end } = t;
    const batchId = int8At(buf, start[6]!);
    if (this.batch?.id === batchId) return;
    // As stored; NULL only on a later row of a batch (never decoded) or if someone altered them.
    const text = (i: number) => (start[i] === -1 ? null : buf.toString('utf8', start[i]!, end[i]!));
    const ms = (i: number) => (start[i] === -1 ? null : Number(buf.readBigInt64BE(start[i]!))); // signed: a pre-1970 time must not wrap
    // Agents, entities, failed: NULL in batches written before migrations 040, 041, 045 (not checked); agents and entities joined like patients.
    this.batch = { id: batchId, columns: decodeBatchColumns(text(7), text(8), ms(9), ms(10), text(11), text(12), text(13)) };
  }

  result(): RangeResult {
    return {
      from: this.task.from,
      ...(this.firstSeq !== undefined ? { firstSeq: this.firstSeq, firstEntry: this.firstEntry! } : {}),
      lastEntry: this.previousEntry,
      expected: this.expected,
      entries: this.entries,
      withheld: this.withheld,
      ...(this.firstChange !== undefined ? { firstChange: this.firstChange } : {}),
      frontier: this.frontier,
      checkpoints: this.checkpoints,
      problems: this.problems,
      problemCount: this.problemCount,
    };
  }
}

function copyOf(f: RangeFrontier): RangeFrontier {
  return { start: f.start, size: f.size, hashes: [...f.hashes], heights: [...f.heights] };
}
