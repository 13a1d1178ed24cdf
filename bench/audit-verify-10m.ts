/**
 * `haven audit verify` at scale (issue 3: 10,000,000 entries in ≤ 60 s):
 *   node dist/bench/audit-verify-10m.js [--entries N] [--head-every K] [--parallel P] [--columns] [--keep] [--reuse]
 *     [--generate-only] [--database NAME] [--results FILE]
 * Creates a fresh database `haven_verify_bench` on DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test), builds a real log with
 * bench/audit-log-fixture.ts, measures this machine's SHA-256 leaf-hash
 * throughput (the limit), then times verifyAuditLog — wall time, entries/s,
 * CPU of this process and of the PostgreSQL backends, peak RSS, load average —
 * and writes bench/results/audit-verify-10m-<date>.json. The database is
 * dropped at the end unless --keep; --reuse verifies a kept one without rebuilding.
 */
import { hash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { adminQuery } from './pg-admin.js';
import { verifyAuditLog, type VerifyReport } from '../src/audit/verify.js';
import { createDb, migrate, type Db } from '../src/store/index.js';
import { withDatabase } from '../test/support/db.js';
import { buildAuditLogFixture, type FixtureResult } from './audit-log-fixture.js';
import { cpuMsOf } from './cpu-meter.js';
import { machineFacts } from './machine.js';

const DATABASE = arg('database') ?? 'haven_verify_bench';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const flag = (name: string) => process.argv.includes(`--${name}`);
function intArg(name: string, fallback: number): number {
  const raw = arg(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
  return n;
}

/** SHA-256 over leaf-sized messages on one core: the figure the verify rate is bounded by (per core). */
export function leafHashRate(messageBytes: number, count = 1_000_000): number {
  const msg = randomBytes(messageBytes);
  const t = performance.now();
  for (let i = 0; i < count; i++) hash('sha256', msg, 'buffer');
  return Math.round(count / ((performance.now() - t) / 1000));
}

async function sizes(db: Db) {
  const r = await db.query<{ entry_mb: string; log_mb: string; avg_entry: string }>(
    `SELECT pg_total_relation_size('audit_batch') / 1048576 AS entry_mb, pg_total_relation_size('audit_batch_log') / 1048576 AS log_mb,
            (SELECT avg(octet_length(e))::int FROM audit_batch b TABLESAMPLE SYSTEM (1), unnest(b.entries) AS e) AS avg_entry`,
  );
  const row = r.rows[0]!;
  return { auditBatchMb: Number(row.entry_mb), auditBatchLogMb: Number(row.log_mb), avgCanonicalBytes: Number(row.avg_entry) };
}

/** Sums CPU of the database's backends (sampled while they live) and of this process. */
function pgCpuSampler(db: Db) {
  const seen = new Map<number, number>();
  const sample = async () => {
    const res = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [DATABASE]);
    for (const { pid } of res.rows) seen.set(pid, Math.max(seen.get(pid) ?? 0, cpuMsOf(pid)));
  };
  return { sample, total: () => [...seen.values()].reduce((a, b) => a + b, 0) };
}

async function timedVerify(db: Db, witnessPath: string, checkColumns: boolean, parallelism: number) {
  const sampler = pgCpuSampler(db);
  await sampler.sample();
  const pgBefore = sampler.total();
  const cpu0 = process.cpuUsage();
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    void sampler.sample();
  }, 200);
  const t = performance.now();
  let report: VerifyReport;
  try {
    report = await verifyAuditLog(db, { witnessPath, checkColumns, parallelism });
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - t) / 1000;
  await sampler.sample();
  const cpu = process.cpuUsage(cpu0);
  const nodeCpuS = (cpu.user + cpu.system) / 1e6;
  const pgCpuS = (sampler.total() - pgBefore) / 1000;
  return {
    checkColumns,
    parallelism,
    ok: report.ok,
    problems: report.problems.slice(0, 5),
    entries: report.entries,
    checkpoints: { database: report.databaseHeads, witness: report.witnessHeads },
    wallSeconds: Math.round(seconds * 10) / 10,
    entriesPerSecond: Math.round(report.entries / seconds),
    cpuSeconds: { verifier: Math.round(nodeCpuS * 10) / 10, postgres: Math.round(pgCpuS * 10) / 10 },
    cpuMicrosPerEntry: { verifier: Math.round((nodeCpuS / report.entries) * 1e7) / 10, postgres: Math.round((pgCpuS / report.entries) * 1e7) / 10 },
    peakRssMb: Math.round(peakRss / 2 ** 20),
    loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

async function main(): Promise<void> {
  const entries = intArg('entries', 10_000_000);
  const headEvery = intArg('head-every', 50_000);
  const parallelism = intArg('parallel', 2);
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const dir = mkdtempSync(join(tmpdir(), 'haven-verify-bench-'));
  const witnessPath = join(process.env.BENCH_WITNESS_DIR ?? dir, 'witness.jsonl');
  const loadBefore = loadavg().map((l) => Math.round(l * 100) / 100);
  if (!flag('reuse')) {
    rmSync(witnessPath, { force: true }); // a new log: an old witness would (rightly) call it a replacement
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await adminQuery(serverUrl, `CREATE DATABASE ${DATABASE}`);
  }
  const db = createDb({ connectionString: withDatabase(serverUrl, DATABASE), maxConnections: 6 });
  let fixture: FixtureResult | undefined;
  try {
    if (!flag('reuse')) {
      await migrate(db);
      fixture = await buildAuditLogFixture(db, { entries, headEvery, witnessPath, onProgress: progress() });
      console.error(`fixture: ${JSON.stringify(fixture)}`);
      if (flag('generate-only')) return;
    }
    const store = await sizes(db);
    const sha = { leafHashesPerSecondOneCore: leafHashRate(store.avgCanonicalBytes + 1), bulkMBps: bulkRate() };
    const runs = [await timedVerify(db, witnessPath, false, parallelism)];
    console.error(JSON.stringify(runs[0]));
    if (flag('columns')) runs.push(await timedVerify(db, witnessPath, true, parallelism));
    writeResults({ entries, headEvery, fixture, store, sha, runs, loadBefore, serverUrl });
  } finally {
    await db.close();
    if (!flag('keep')) await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    rmSync(dir, { recursive: true, force: true });
  }
}

function progress(): (n: number) => void {
  let next = 1_000_000;
  return (n) => {
    if (n < next) return;
    console.error(`generated ${n} (${loadavg()[0]!.toFixed(1)} load)`);
    next += 1_000_000;
  };
}

function bulkRate(): number {
  const chunk = randomBytes(1 << 20);
  const t = performance.now();
  for (let i = 0; i < 256; i++) hash('sha256', chunk, 'buffer');
  return Math.round(256 / ((performance.now() - t) / 1000));
}

function writeResults(r: Record<string, unknown> & { runs: ReturnType<typeof timedVerify> extends Promise<infer T> ? T[] : never; sha: { leafHashesPerSecondOneCore: number }; entries: number }): void {
  const leaves = r.runs.find((x) => !x.checkColumns)!;
  // The target is the command as an auditor runs it: with the column check (the default) when it was timed.
  const asDefault = r.runs.find((x) => x.checkColumns) ?? leaves;
  const out = {
    benchmark: 'audit-verify-10m',
    date: new Date().toISOString(),
    machine: machineFacts(),
    ...r,
    serverUrl: undefined,
    limit: {
      shaOnlySecondsOneCore: Math.round((r.entries / r.sha.leafHashesPerSecondOneCore) * 10) / 10,
      note: 'leaf hashes alone on one core; the tree adds one node hash per leaf (65-byte message)',
    },
    target: {
      entries: 10_000_000,
      seconds: 60,
      checkColumns: asDefault.checkColumns,
      measuredSeconds: asDefault.wallSeconds,
      pass: r.entries >= 10_000_000 ? asDefault.ok && asDefault.wallSeconds <= 60 : null,
    },
  };
  const file = arg('results') ?? `bench/results/audit-verify-10m-${new Date().toISOString().slice(0, 10)}.json`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote ${file}`);
}

await main();
