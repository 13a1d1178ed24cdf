/**
 * PostgreSQL CPU of one read group-commit batch of sealed-size (v2) entries,
 * with the audit_batch row stored as migration 020 made it (a batch of more
 * than ~3 sealed entries passes the 2 kB TOAST threshold: its entries are
 * pglz-compressed and moved out of line) against the same row kept inline
 * (`toast_tuple_target` raised to its maximum). Alternating ABBA rounds on
 * one connection with synchronous commit, as served: backend CPU from /proc
 * (so run it against a PostgreSQL on this host) and the table's growth in
 * bytes per batch. Measured and not adopted (issue 3, 2026-11-29): inline saved
 * ~5-10 % of the INSERT's CPU at 7 entries but stored ~1.7x the bytes, since a
 * 4.7 kB row leaves half of each 8 kB heap page empty.
 *
 * `--layouts toasted,lz4` compares pglz (as served) with LZ4 compression of the
 * toasted entries instead.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/audit-batch-toast.js [--batches 600] [--rounds 4] [--sizes 7,12] [--layouts toasted,inline] [--out name]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { toRow, type EntryRow } from '../src/audit/entry.js';
import { insertEntries } from '../src/audit/insert.js';
import type { SealedAuditEntry } from '../src/audit/sealed-entry.js';
import { createTestDb } from '../test/support/db.js';
import { cpuMsOf } from './cpu-meter.js';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { round } from './stats.js';

const batches = positiveArg('batches', 600);
const rounds = positiveArg('rounds', 4);
const sizes = (stringArg('sizes') ?? '7,12').split(',').map(Number);
const tag = () => `bi:${randomBytes(16).toString('hex')}`;

/** A v2 read entry of the served shape and size (~660 bytes): random tags, ids and a 136-byte envelope. */
function sealedEntry(): EntryRow {
  const entry: SealedAuditEntry = {
    v: 2,
    id: randomUUID(),
    tenant: 'default',
    recordedAt: new Date().toISOString(),
    action: 'read',
    outcome: 'success',
    status: 200,
    who: { subject: 'haven-admin', clientId: 'haven-admin', kind: 'client', tokenId: randomUUID() },
    where: { node: 'vm' },
    requestId: randomUUID(),
    resources: [{ type: 'Observation', entity: tag(), patient: tag() }],
    sealed: randomBytes(136).toString('base64'),
  };
  return toRow(entry);
}

const layouts = {
  toasted: 'ALTER TABLE audit_batch RESET (toast_tuple_target), ALTER COLUMN entries SET COMPRESSION pglz',
  inline: 'ALTER TABLE audit_batch SET (toast_tuple_target = 8160), ALTER COLUMN entries SET COMPRESSION pglz',
  // Toasted as served, compressed with LZ4 instead of pglz (PostgreSQL built --with-lz4).
  lz4: 'ALTER TABLE audit_batch RESET (toast_tuple_target), ALTER COLUMN entries SET COMPRESSION lz4',
} as const;
type Layout = keyof typeof layouts;
// `--layouts toasted,lz4`: which two layouts alternate (default toasted,inline).
const [layoutA, layoutB] = (stringArg('layouts') ?? 'toasted,inline').split(',') as [Layout, Layout];
if (!(layoutA in layouts) || !(layoutB in layouts)) throw new Error(`--layouts: two of ${Object.keys(layouts).join(', ')}`);

const t = await createTestDb();
const client = await t.db.pool.connect();
const loads: number[] = [loadavg()[0]!];
try {
  const pid = (await client.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
  const samples: Record<string, number[]> = {};
  const bytes: Record<string, number[]> = {};
  const totalBytes = async () => Number((await client.query<{ n: string }>(`SELECT pg_total_relation_size('audit_batch') AS n`)).rows[0]!.n);
  const run = async (layout: Layout, size: number) => {
    await client.query(layouts[layout]);
    const work = Array.from({ length: batches }, () => Array.from({ length: size }, sealedEntry));
    const before = cpuMsOf(pid);
    const sizeBefore = await totalBytes();
    for (const rows of work) await insertEntries(client, rows);
    const us = round((1000 * (cpuMsOf(pid) - before)) / batches, 0);
    // Heap, TOAST and index bytes added per batch: what inline storage costs on disk.
    const perBatch = round(((await totalBytes()) - sizeBefore) / batches, 0);
    (samples[`${layout}/${size}`] ??= []).push(us);
    (bytes[`${layout}/${size}`] ??= []).push(perBatch);
    console.error(`[audit-batch-toast] ${layout} size ${size}: ${us} µs PG CPU, ${perBatch} bytes per batch`);
  };
  for (let r = 0; r < rounds; r++) {
    // ABBA: the layout that goes first alternates between rounds.
    const order: Layout[] = r % 2 === 0 ? [layoutA, layoutB] : [layoutB, layoutA];
    for (const size of sizes) for (const layout of order) await run(layout, size);
    loads.push(loadavg()[0]!);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary = Object.fromEntries(
    Object.entries(samples).map(([k, v]) => [k, { medianPgUsPerBatch: median(v), samples: v, medianBytesPerBatch: median(bytes[k]!), bytesSamples: bytes[k] }]),
  );
  const result = {
    benchmark: 'audit-batch-toast',
    at: new Date().toISOString(),
    machine: machineFacts(),
    spec: { batches, rounds, sizes, layouts: { [layoutA]: layouts[layoutA], [layoutB]: layouts[layoutB] }, synchronousCommit: 'on', entryBytes: sealedEntry().canonical.length },
    loadAverage1m: { start: round(loads[0]!), end: round(loads[loads.length - 1]!), min: round(Math.min(...loads)), max: round(Math.max(...loads)) },
    method: 'insertEntries in a loop on one connection, layouts alternating ABBA per round; PG backend utime+stime from /proc per batch; pg_total_relation_size(audit_batch) growth per batch',
    summary,
  };
  console.log(JSON.stringify(summary, null, 1));
  const out = stringArg('out');
  if (out) {
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(`bench/results/${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
  }
} finally {
  client.release();
  await t.drop();
}
