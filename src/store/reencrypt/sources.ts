import { resealResource, type Keyring } from '../../crypto/index.js';
import { blobsToReseal, resealBlob } from '../blob-reseal.js';
import type { Queryable } from '../db.js';
import { nextBatch, swapSealed, tableByName, type SealedTable } from './tables.js';

/**
 * The places a re-encryption task walks, behind one shape: the next batch of
 * items still under an old key version after a cursor, re-sealed, and a
 * commit that runs inside the transaction saving the task's cursor.
 */
export interface Batch {
  cursor: string[];
  /** Returns how many items it rewrote. */
  commit(tx: Queryable): Promise<number>;
}

export interface BatchSource {
  /** Undefined when nothing after `cursor` uses an old version. */
  next(cursor: string[] | null, size: number): Promise<Batch | undefined>;
  anyLeft(): Promise<boolean>;
}

/** The task name of a tenant's blob directory (purpose `blobs`). */
export const BLOB_TASK = 'blobs';
/** Blobs re-sealed per batch: one can be many MiB, so batches are small. */
const BLOBS_PER_BATCH = 10;

export interface SourceDeps {
  db: Queryable;
  keyring: Keyring;
  blobDir?: string;
}

export function sourceFor(d: SourceDeps, tenant: string, place: string, toVersion: number): BatchSource | undefined {
  if (place === BLOB_TASK) return d.blobDir === undefined ? undefined : blobSource(d.keyring, d.blobDir, tenant, toVersion);
  const table = tableByName(place);
  return table ? tableSource(d, table, tenant, toVersion) : undefined;
}

/** Rows: re-sealed in memory, written by one compare-and-swap statement in the cursor's transaction. */
function tableSource(d: SourceDeps, table: SealedTable, tenant: string, toVersion: number): BatchSource {
  return {
    async next(cursor, size) {
      const rows = await nextBatch(d.db, table, tenant, toVersion, cursor, size);
      if (rows.length === 0) return undefined;
      const sealed = await Promise.all(rows.map((r) => resealResource(d.keyring, table.identity(tenant, r), r['sealed'] as Buffer, toVersion)));
      const last = rows[rows.length - 1]!;
      return { cursor: table.keys.map((k) => String(last[k.col])), commit: (tx) => swapSealed(tx, table, tenant, rows, sealed) };
    },
    anyLeft: async () => (await nextBatch(d.db, table, tenant, toVersion, null, 1)).length > 0,
  };
}

/**
 * Blobs: each file is re-sealed and renamed into place before the cursor is
 * saved (a file cannot join a database transaction). Redoing a batch after a
 * lost lease is harmless: a blob already under `toVersion` is not selected again.
 */
function blobSource(keyring: Keyring, blobDir: string, tenant: string, toVersion: number): BatchSource {
  return {
    async next(cursor, size) {
      const names = await blobsToReseal(blobDir, tenant, toVersion, cursor?.[0] ?? null, Math.min(size, BLOBS_PER_BATCH));
      if (names.length === 0) return undefined;
      let replaced = 0;
      for (const name of names) if (await resealBlob(blobDir, tenant, name, keyring, toVersion)) replaced++;
      return { cursor: [names[names.length - 1]!], commit: async () => replaced };
    },
    anyLeft: async () => (await blobsToReseal(blobDir, tenant, toVersion, null, 1)).length > 0,
  };
}
