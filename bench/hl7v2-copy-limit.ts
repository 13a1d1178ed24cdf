/**
 * The physical limit of HL7 v2 ingestion on this machine (issue 8 asks for
 * 1,000 messages/s): how fast PostgreSQL alone takes exactly the rows that
 * Haven's messages wrote, through COPY, the fastest way rows enter it (the
 * limit the core issue names for ingest). No Haven work is in it: no MLLP,
 * parsing, conversion, validation, index extraction, encryption, audit
 * sealing, statements or round trips.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/hl7v2-copy-limit.js
 *     [--messages 3000] [--connections 8] [--rounds 3] [--out NAME]
 *
 * 1. A Haven server on a fresh database takes `--messages` messages of the
 *    benchmark's mixed traffic (bench/hl7v2-mix.ts, the same as
 *    bench/hl7v2-mllp.ts) over MLLP; every one must be ACKed AA. It stops.
 * 2. The rows those messages wrote — current and history rows of the
 *    resources, every search-index row (blind tags included), contained rows,
 *    the stored messages and their entry clocks, the audit batches and their
 *    sequence log — are read out with COPY … TO STDOUT.
 * 3. Each round copies them into fresh tables shaped like the originals
 *    (`LIKE … INCLUDING ALL`: the same primary keys and indexes, logged, so WAL
 *    is paid too), one COPY FROM STDIN per table, once in text and once in
 *    binary format, and measures the PostgreSQL backend's CPU (/proc), the
 *    wall time and the WAL written.
 *
 * The ceiling is cores × 1,000 ms ÷ backend CPU ms per message (of the
 * cheaper format): the messages/s this machine could take if Haven's own work
 * cost nothing and PostgreSQL's bulk path were as cheap as COPY. The audit tables also hold
 * the few entries of the benchmark's own token requests (counted, negligible).
 * Results: bench/results/hl7v2-copy-limit-<date>.json (or `--out NAME`.json).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ackCodeOf } from '../src/hl7v2/ingest/index.js';
import { connectMllp } from '../src/hl7v2/mllp/index.js';
import { freePort } from '../test/support/server.js';
import { copyFrom, copyTo } from './copy-in.js';
import { cpuMsOf } from './cpu-meter.js';
import { generator, MIXES } from './hl7v2-mix.js';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { adminQuery, databaseUrl } from './pg-admin.js';
import { startServerChild } from './server-process.js';
import { median, round } from './stats.js';

/** Every table an HL7 v2 message's commit writes to (docs/hl7v2.md, "Acknowledgments"). */
const TABLES = [
  'resource',
  'resource_version',
  'idx_string',
  'idx_token',
  'idx_date',
  'idx_reference',
  'idx_number',
  'idx_quantity',
  'idx_uri',
  'contained_resource',
  'hl7v2_message',
  'hl7v2_entry_clock',
  'audit_batch',
  'audit_batch_queue',
  'audit_batch_log',
] as const;

const CHUNK_BYTES = 1 << 20;

/** Copy-data rows regrouped into ~1 MB chunks: what a bulk loader sends. */
function regroup(rows: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let part: Buffer[] = [];
  let size = 0;
  for (const r of rows) {
    part.push(r);
    size += r.length;
    if (size >= CHUNK_BYTES) {
      out.push(Buffer.concat(part));
      part = [];
      size = 0;
    }
  }
  if (part.length > 0) out.push(Buffer.concat(part));
  return out;
}

async function ingest(port: number, connections: number, messages: number): Promise<{ seconds: number; acks: Record<string, number> }> {
  const gen = generator(randomBytes(3).toString('hex'), MIXES.mixed, (i) => String(i % 5000));
  const acks: Record<string, number> = {};
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const c = await connectMllp({ host: '127.0.0.1', port });
      while (sent < messages) {
        sent += 1;
        const code = ackCodeOf(await c.send(gen.next())) ?? '?';
        acks[code] = (acks[code] ?? 0) + 1;
      }
      c.close();
    }),
  );
  return { seconds: round((performance.now() - started) / 1000), acks };
}

/** The table's columns a COPY can write (generated columns are computed, not copied). */
async function copyableColumns(db: pg.Client, table: string): Promise<string> {
  const res = await db.query<{ name: string }>(
    `SELECT quote_ident(attname) AS name FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`,
    [table],
  );
  return res.rows.map((r) => r.name).join(', ');
}

type CopyFormat = 'text' | 'binary';
const FORMATS: readonly CopyFormat[] = ['text', 'binary'];

interface TableRows {
  table: string;
  columns: string;
  rows: number;
  /** The table's rows as copy data, in each format. */
  data: Record<CopyFormat, { bytes: number; chunks: Buffer[] }>;
}

/**
 * The rows in both COPY formats: text (what bench/limits.ts uses for the core
 * issue's limit) and binary (no hex bytea or number parsing: the cheaper
 * one gives the ceiling).
 */
async function readOut(db: pg.Client): Promise<TableRows[]> {
  const out: TableRows[] = [];
  for (const table of TABLES) {
    const columns = await copyableColumns(db, table);
    const rows = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]!.n);
    const data = {} as TableRows['data'];
    for (const format of FORMATS) {
      const messages = await copyTo(db, `COPY (SELECT ${columns} FROM ${table}) TO STDOUT (FORMAT ${format})`);
      data[format] = { bytes: messages.reduce((a, r) => a + r.length, 0), chunks: regroup(messages) };
    }
    out.push({ table, columns, rows, data });
  }
  return out;
}

async function walLsn(db: pg.Client): Promise<string> {
  return (await db.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
}

/** One round: every table's rows COPYed into a fresh table shaped like it. */
async function copyRound(db: pg.Client, backendPid: number, tables: TableRows[], format: CopyFormat) {
  for (const t of tables) {
    await db.query(`DROP TABLE IF EXISTS bench_copy_${t.table}`);
    await db.query(`CREATE TABLE bench_copy_${t.table} (LIKE ${t.table} INCLUDING ALL)`);
  }
  await db.query('CHECKPOINT'); // the round starts with clean buffers, as a steady state after a checkpoint would
  const walBefore = await walLsn(db);
  // Per table indicative only (/proc counts 10 ms ticks); the round's total is read once, around all of them.
  const perTable: Record<string, { cpuMs: number; ms: number }> = {};
  const roundCpuBefore = cpuMsOf(backendPid);
  let ms = 0;
  for (const t of tables) {
    const cpuBefore = cpuMsOf(backendPid);
    const started = performance.now();
    await copyFrom(db, `COPY bench_copy_${t.table} (${t.columns}) FROM STDIN (FORMAT ${format})`, t.data[format].chunks);
    const tableMs = performance.now() - started;
    const tableCpu = cpuMsOf(backendPid) - cpuBefore;
    perTable[t.table] = { cpuMs: tableCpu, ms: round(tableMs, 1) };
    ms += tableMs;
  }
  const cpuMs = cpuMsOf(backendPid) - roundCpuBefore;
  const wal = await db.query<{ n: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn) AS n', [walBefore]);
  for (const t of tables) await db.query(`DROP TABLE bench_copy_${t.table}`);
  return { format, cpuMs, ms: round(ms, 1), walBytes: Number(wal.rows[0]!.n), perTable, load1m: round(loadavg()[0]!) };
}

async function main(): Promise<void> {
  const admin = process.env.DATABASE_URL;
  if (!admin) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
  const messages = positiveArg('messages', 3000);
  const connections = positiveArg('connections', 8);
  const rounds = positiveArg('rounds', 3);
  const name = `haven_bench_hl7copy_${randomBytes(3).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-bench-hl7copy-'));
  await adminQuery(admin, `CREATE DATABASE ${name}`);
  const url = databaseUrl(admin, name);
  try {
    const mllpPort = await freePort();
    const server = await startServerChild({ dataDir, port: await freePort(), databaseUrl: url, env: { HAVEN_MLLP_PORT: String(mllpPort) } });
    let sent;
    try {
      sent = await ingest(mllpPort, connections, messages);
    } finally {
      await server.stop();
    }
    if (sent.acks.AA !== messages) throw new Error(`not every message was accepted: ${JSON.stringify(sent.acks)}`);
    console.log(`ingested ${messages} messages through Haven in ${sent.seconds} s (${round(messages / sent.seconds, 1)}/s)`);

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const backendPid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const tables = await readOut(db);
      const rows = Object.fromEntries(tables.map((t) => [t.table, t.rows]));
      const totalRows = tables.reduce((a, t) => a + t.rows, 0);
      const bytesOf = (f: CopyFormat) => tables.reduce((a, t) => a + t.data[f].bytes, 0);
      console.log(`rows per message: ${round(totalRows / messages, 1)} (${round(bytesOf('binary') / messages / 1024, 1)} KB as binary COPY data)`);
      const samples: Awaited<ReturnType<typeof copyRound>>[] = [];
      // Formats alternate within each round, so the machine's weather falls on both.
      for (let r = 0; r < rounds; r++) {
        for (const format of r % 2 === 0 ? FORMATS : [...FORMATS].reverse()) {
          const s = await copyRound(db, backendPid, tables, format);
          samples.push(s);
          console.log(`round ${r + 1} ${format}: ${s.cpuMs} ms backend CPU, ${s.ms} ms wall, ${round(s.walBytes / 1024 / 1024, 1)} MB WAL (load ${s.load1m})`);
        }
      }
      const cores = cpus().length;
      const summary = (f: CopyFormat) => {
        const of = samples.filter((s) => s.format === f);
        const cpuMsPerMessage = median(of.map((s) => s.cpuMs / messages), 3);
        const wallMsPerMessage = median(of.map((s) => s.ms / messages), 3);
        return {
          copyDataBytesPerMessage: round(bytesOf(f) / messages, 0),
          backendCpuMsPerMessage: cpuMsPerMessage,
          wallMsPerMessage,
          walBytesPerMessage: median(of.map((s) => s.walBytes / messages), 0),
          messagesPerSecondOneStream: round(1000 / wallMsPerMessage, 0),
          ceilingMessagesPerSecond: round((cores * 1000) / cpuMsPerMessage, 0),
        };
      };
      const byFormat = { text: summary('text'), binary: summary('binary') };
      const best = FORMATS.reduce((a, f) => (byFormat[f].backendCpuMsPerMessage < byFormat[a].backendCpuMsPerMessage ? f : a));
      const result = {
        benchmark: 'hl7v2-copy-limit',
        at: new Date().toISOString(),
        machine: machineFacts(),
        method:
          'COPY FROM STDIN (one statement per table, text and binary format) of the rows Haven wrote for these messages, into logged tables LIKE the originals INCLUDING ALL (same keys and indexes); PostgreSQL backend CPU from /proc; no Haven work',
        messages,
        mix: MIXES.mixed,
        haven: { seconds: sent.seconds, messagesPerSecond: round(messages / sent.seconds, 1), note: 'the ingest that produced the rows (no warm-up; for scale only: bench/hl7v2-mllp.ts measures throughput)' },
        rowsPerMessage: Object.fromEntries(tables.map((t) => [t.table, round(t.rows / messages, 2)])),
        rows,
        totalRowsPerMessage: round(totalRows / messages, 1),
        samples,
        copy: byFormat,
        ceiling: { format: best, cores, backendCpuMsPerMessage: byFormat[best].backendCpuMsPerMessage, messagesPerSecond: byFormat[best].ceilingMessagesPerSecond },
        target: { messagesPerSecond: 1000, cpuMsPerMessageAllowed: round((cores * 1000) / 1000, 2) },
      };
      console.log(
        `COPY alone (${best}): ${result.ceiling.backendCpuMsPerMessage} ms backend CPU per message → ceiling ${result.ceiling.messagesPerSecond} messages/s on ${cores} cores (one stream: ${byFormat[best].messagesPerSecondOneStream}/s); target 1,000/s allows ${result.target.cpuMsPerMessageAllowed} ms`,
      );
      mkdirSync('bench/results', { recursive: true });
      const out = stringArg('out') ?? `hl7v2-copy-limit-${result.at.slice(0, 19).replace(/:/g, '-')}`;
      writeFileSync(`bench/results/${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
      console.log(`results: bench/results/${out}.json`);
    } finally {
      await db.end();
    }
  } finally {
    await adminQuery(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
