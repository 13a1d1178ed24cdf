import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Queryable } from '../store/index.js';
import type { SignedTreeHead } from './tree-head.js';

/** One witness line: the signed head plus the public key it verifies under (base64 raw Ed25519). */
export interface WitnessRecord extends SignedTreeHead {
  publicKey: string;
}

/** A signed tree head as stored (audit_tree_head joined with audit_signing_key). */
export interface SignedHeadRow {
  tree_size: string;
  root_hash: Buffer;
  timestamp_ms: string;
  key_id: string;
  signature: Buffer;
  public_key: Buffer;
}

/** The published form of a stored head (witness lines and the tree-head API). */
export function toWitnessRecord(r: SignedHeadRow): WitnessRecord {
  return {
    treeSize: Number(r.tree_size),
    rootHash: r.root_hash.toString('base64'),
    timestampMs: Number(r.timestamp_ms),
    keyId: r.key_id,
    signature: r.signature.toString('base64'),
    publicKey: r.public_key.toString('base64'),
  };
}

/** Committed heads above `size`, oldest first, in their published form. */
export async function headsAfter(q: Queryable, size: number, limit = 100_000): Promise<WitnessRecord[]> {
  const res = await q.query<SignedHeadRow>(
    `SELECT h.tree_size, h.root_hash, h.timestamp_ms, h.key_id, h.signature, k.public_key
     FROM audit_tree_head h JOIN audit_signing_key k USING (key_id) WHERE h.tree_size > $1 ORDER BY h.tree_size LIMIT $2`,
    [size, limit],
  );
  return res.rows.map(toWitnessRecord);
}

/** Witness lines: one JSON record per line. */
export const witnessLines = (records: WitnessRecord[]): string => records.map((r) => `${JSON.stringify(r)}\n`).join('');

/**
 * Appends heads to the witness file (JSON lines). Opened in append mode and
 * fsynced: the witness is the copy of the heads that lives outside the
 * database, so a database-wide rewrite cannot also rewrite it. Asynchronous:
 * an fsync must not stall the event loop that serves requests.
 */
export async function appendWitness(path: string, records: WitnessRecord[]): Promise<void> {
  if (records.length === 0) return;
  await mkdir(dirname(path), { recursive: true });
  const file = await open(path, 'a', 0o640);
  try {
    await file.write(witnessLines(records));
    await file.sync();
  } finally {
    await file.close();
  }
}

export interface WitnessRead {
  records: WitnessRecord[];
  /** Lines that are not a well-formed record, by 1-based line number. */
  malformed: number[];
}

export function readWitness(path: string): WitnessRead {
  if (!existsSync(path)) return { records: [], malformed: [] };
  return parseWitness(readFileSync(path, 'utf8'));
}

/** Parses witness lines (a file, or an object of the S3 witness). */
export function parseWitness(text: string, firstLine = 1): WitnessRead {
  const records: WitnessRecord[] = [];
  const malformed: number[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const r = JSON.parse(line) as WitnessRecord;
      if (Number.isSafeInteger(r.treeSize) && typeof r.rootHash === 'string' && typeof r.signature === 'string' && typeof r.publicKey === 'string') records.push(r);
      else malformed.push(i + firstLine);
    } catch {
      malformed.push(i + firstLine);
    }
  });
  return { records, malformed };
}

export function lastWitnessSize(path: string): number {
  const { records } = readWitness(path);
  return records.reduce((max, r) => Math.max(max, r.treeSize), 0);
}
