/**
 * Builds a real audit log of N entries fast, for `haven audit verify` at scale:
 * entries made by the audit module's own builder (buildEntry → canonical
 * bytes), leaf hashes and the Merkle frontier by merkle.ts, tree heads signed
 * every `headEvery` entries with a fresh key registered as the log's signing
 * key and published to a witness file — what the sequencer would have left,
 * but entries are built by worker threads (audit-fixture-worker.ts) and
 * written with binary COPY (two connections, one per table, streamed while
 * the next blocks are built) instead of one INSERT per sequencing round. Indexes and key
 * constraints are dropped for the load and rebuilt from their own definitions
 * afterwards, so the schema ends as the migration made it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { appendLeaf, emptyFrontier, frontierRoot, type Frontier } from '../src/audit/merkle.js';
import { keyIdOf, publicKeyFromRaw, rawPublicKey, signTreeHead, type AuditSigningKey } from '../src/audit/tree-head.js';
import { appendWitness, type WitnessRecord } from '../src/audit/witness.js';
import type { Db } from '../src/store/index.js';
import { copyIn, TupleEncoder, type CopyWriter } from './audit-copy.js';
import type { Block, BlockSpec } from './audit-fixture-mix.js';

export interface FixtureOptions {
  entries: number;
  /** A signed tree head every this many entries (and one at the end). */
  headEvery: number;
  /** Where the heads are also published (JSON lines, as the sequencer's witness). */
  witnessPath?: string;
  /** recorded_at of the first entry; later ones follow every `stepMs`. */
  startMs?: number;
  stepMs?: number;
  seed?: number;
  /** Worker threads building entries (default: one per core). */
  threads?: number;
  /** Entries per block a worker builds and hands over (default 10,000). */
  blockSize?: number;
  /** Entries per batch row (default 16; batches never span blocks). */
  batchEntries?: number;
  /** About one access in this many fails (bench/audit-fixture-mix.ts; default 50). */
  failureEvery?: number;
  onProgress?: (done: number) => void;
}

export interface FixtureResult {
  entries: number;
  heads: number;
  seconds: { generate: number; indexes: number; total: number };
}

interface HeadRow {
  size: number;
  root: Buffer;
  timestampMs: number;
  signature: Buffer;
  frontier: Buffer[];
}

export async function buildAuditLogFixture(db: Db, options: FixtureOptions): Promise<FixtureResult> {
  const t0 = performance.now();
  const key = await fixtureKey(db);
  const saved = await dropKeysAndIndexes(db);
  const heads = await streamEntries(db, key, options);
  const t1 = performance.now();
  await db.transaction(async (tx) => {
    for (const h of heads) {
      await tx.query(
        'INSERT INTO audit_tree_head (tree_size, root_hash, timestamp_ms, key_id, signature, frontier) VALUES ($1, $2, $3, $4, $5, $6)',
        [h.size, h.root, h.timestampMs, key.keyId, h.signature, h.frontier],
      );
    }
  });
  if (options.witnessPath) await appendWitness(options.witnessPath, heads.map((h) => witnessRecord(h, key)));
  await restoreKeysAndIndexes(db, saved);
  if (options.entries > 0) await db.query(`SELECT setval('audit_batch_id_seq', ${options.entries})`);
  await db.query('ANALYZE audit_batch, audit_batch_log, audit_tree_head');
  const t2 = performance.now();
  const s = (a: number, b: number) => Math.round((b - a) / 100) / 10;
  return { entries: options.entries, heads: heads.length, seconds: { generate: s(t0, t1), indexes: s(t1, t2), total: s(t0, t2) } };
}

/**
 * A fresh Ed25519 key whose public half is registered as the log's signing key. The private
 * half signs the fixture's heads and is then dropped: verification needs only public keys, and
 * a bench database should not hold a usable signing key.
 */
async function fixtureKey(db: Db): Promise<AuditSigningKey> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicRaw = rawPublicKey(publicKey);
  const keyId = keyIdOf(publicRaw);
  await db.query('INSERT INTO audit_signing_key (key_id, public_key) VALUES ($1, $2)', [keyId, publicRaw]);
  return { keyId, publicRaw, publicKey: publicKeyFromRaw(publicRaw), privateKey };
}

function witnessRecord(h: HeadRow, key: AuditSigningKey): WitnessRecord {
  return { treeSize: h.size, rootHash: h.root.toString('base64'), timestampMs: h.timestampMs, keyId: key.keyId, signature: h.signature.toString('base64'), publicKey: key.publicRaw.toString('base64') };
}

interface SavedDefs {
  constraints: { table: string; name: string; def: string }[];
  indexes: { name: string; def: string }[];
}

/** Key constraints and plain indexes of the two big tables, dropped (bulk index builds beat per-row upkeep). */
async function dropKeysAndIndexes(db: Db): Promise<SavedDefs> {
  const constraints = (
    await db.query<{ table: string; name: string; def: string }>(
      `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid IN ('audit_batch'::regclass, 'audit_batch_log'::regclass) AND contype IN ('p', 'u')`,
    )
  ).rows;
  const indexes = (
    await db.query<{ name: string; def: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
       WHERE i.indrelid IN ('audit_batch'::regclass, 'audit_batch_log'::regclass)
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)`,
    )
  ).rows;
  for (const c of constraints) await db.query(`ALTER TABLE ${c.table} DROP CONSTRAINT ${c.name}`);
  for (const i of indexes) await db.query(`DROP INDEX ${i.name}`);
  return { constraints, indexes };
}

async function restoreKeysAndIndexes(db: Db, saved: SavedDefs): Promise<void> {
  // Two builds at a time: one per core; each gets its own sort memory.
  const client = await db.pool.connect();
  try {
    await client.query(`SET maintenance_work_mem = '512MB'`);
    const jobs = [...saved.constraints.map((c) => `ALTER TABLE ${c.table} ADD CONSTRAINT ${c.name} ${c.def}`), ...saved.indexes.map((i) => i.def)];
    const other = await db.pool.connect();
    try {
      await other.query(`SET maintenance_work_mem = '512MB'`);
      const lanes = [client, other].map(async (c) => {
        for (let job = jobs.shift(); job !== undefined; job = jobs.shift()) await c.query(job);
      });
      await Promise.all(lanes);
    } finally {
      other.release();
    }
  } finally {
    client.release();
  }
}

const ENTRY_COPY = `COPY audit_batch (tenant_id, batch_id, first_at, last_at, patient_ids, agent_ids, entity_ids, failed, entries, leaf_hashes)
  FROM STDIN (FORMAT binary, FREEZE)`;
const LOG_COPY = 'COPY audit_batch_log (first_seq, tenant_id, batch_id, count) FROM STDIN (FORMAT binary, FREEZE)';

/** One COPY per table on its own connection, inside a transaction that truncated the table (so FREEZE applies). */
async function openCopy(db: Db, table: string, text: string) {
  const client = await db.pool.connect();
  await client.query('BEGIN');
  // The append-only trigger also refuses TRUNCATE; the table is empty, the truncate only enables FREEZE.
  await client.query(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
  await client.query(`TRUNCATE ${table}`);
  const writer = await copyIn(client, text);
  return {
    writer,
    async commit() {
      await writer.finish();
      await client.query(`ALTER TABLE ${table} ENABLE TRIGGER USER`);
      await client.query('COMMIT');
      client.release();
    },
    abort() {
      client.release(true);
    },
  };
}

async function streamEntries(db: Db, key: AuditSigningKey, options: FixtureOptions): Promise<HeadRow[]> {
  const entryCopy = await openCopy(db, 'audit_batch', ENTRY_COPY);
  const logCopy = await openCopy(db, 'audit_batch_log', LOG_COPY);
  try {
    const heads = await generate(key, options, entryCopy.writer, logCopy.writer);
    await Promise.all([entryCopy.commit(), logCopy.commit()]);
    return heads;
  } catch (err) {
    entryCopy.abort();
    logCopy.abort();
    throw err;
  }
}

/** Blocks built by worker threads (one per core), written and added to the tree here in seq order. */
async function generate(key: AuditSigningKey, options: FixtureOptions, entryOut: CopyWriter, logOut: CopyWriter): Promise<HeadRow[]> {
  const spec = { seed: options.seed ?? 1, startMs: options.startMs ?? Date.UTC(2026, 0, 1), stepMs: options.stepMs ?? 3000, batchEntries: options.batchEntries ?? 16, ...(options.failureEvery ? { failureEvery: options.failureEvery } : {}) };
  const specs: BlockSpec[] = [];
  const block = options.blockSize ?? BLOCK;
  for (let from = 0; from < options.entries; from += block) specs.push({ ...spec, from, to: Math.min(options.entries, from + block) });
  const lanes = Math.max(1, Math.min(options.threads ?? availableParallelism(), specs.length));
  const workers = Array.from({ length: lanes }, (_, w) => blockWorker(specs.filter((_, i) => i % lanes === w)));
  const frontier = emptyFrontier();
  const heads: HeadRow[] = [];
  const log = new TupleEncoder();
  try {
    for (let i = 0; i < specs.length; i++) {
      const block = await workers[i % lanes]!.next();
      for (const [first, count] of block.batches) {
        log.tuple(4).int8(first).text('default').int8(first + 1).int4(count);
        for (let seq = first; seq < first + count; seq++) {
          const k = seq - block.from;
          appendLeaf(frontier, Buffer.from(block.leaves.subarray(k * 32, k * 32 + 32)));
          // Heads fall on batch boundaries, as the sequencer's do: at the first batch end at or past each multiple.
        }
        const size = frontier.size;
        if (Math.floor(size / options.headEvery) > Math.floor((size - count) / options.headEvery) || size === options.entries) {
          heads.push(signHead(key, frontier, spec.startMs + (size - 1) * spec.stepMs + 500));
        }
      }
      await Promise.all([entryOut.write(block.tuples), logOut.write(log.take())]);
      options.onProgress?.(frontier.size);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
  return heads;
}

const BLOCK = 10_000;

function signHead(key: AuditSigningKey, frontier: Frontier, timestampMs: number): HeadRow {
  const head = signTreeHead(key, frontier.size, timestampMs, frontierRoot(frontier));
  return { size: frontier.size, root: Buffer.from(head.rootHash, 'base64'), timestampMs, signature: Buffer.from(head.signature, 'base64'), frontier: [...frontier.hashes] };
}

/** A worker building its blocks; `next()` resolves to its next block in order and lets it build one more. */
function blockWorker(blocks: BlockSpec[]) {
  const worker = new Worker(new URL('./audit-fixture-worker.js', import.meta.url), { workerData: { blocks } });
  const ready: Block[] = [];
  const waiting: { resolve: (b: Block) => void; reject: (e: unknown) => void }[] = [];
  let failure: unknown;
  worker.on('message', (m: Block) => {
    const block = { from: m.from, tuples: Buffer.from(m.tuples.buffer, m.tuples.byteOffset, m.tuples.byteLength), leaves: Buffer.from(m.leaves.buffer, m.leaves.byteOffset, m.leaves.byteLength), batches: m.batches };
    const w = waiting.shift();
    if (w) w.resolve(block);
    else ready.push(block);
  });
  worker.on('error', (err) => {
    failure = err;
    for (const w of waiting.splice(0)) w.reject(err);
  });
  return {
    next(): Promise<Block> {
      worker.postMessage('ack');
      if (failure) return Promise.reject(failure instanceof Error ? failure : new Error(String(failure)));
      const b = ready.shift();
      return b ? Promise.resolve(b) : new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    stop: () => worker.terminate(),
  };
}
