/**
 * Pruning archived audit entries at scale (migration 038, src/audit/prune.ts):
 *   nice -n 5 node dist/bench/audit-prune.js [--entries N] [--old-share 0.8] [--head-every K] [--results FILE]
 * Builds a real log of N entries (bench/audit-log-fixture.ts) in a fresh database on DATABASE_URL,
 * the first `old-share` of them recorded before the six-year retention cutoff, archives them
 * (encrypted tenant blobs through a local KMS keyring, manifests), then times:
 * `haven audit verify` before; the prune's checks alone (a dry run: manifests keyless, every archived
 * entry with the keys); the prune (checks again, the audit entry, then audit_prune() in steps); verify
 * after (from the first kept seq, with and without the archive's check of the heads before it); and a
 * VACUUM of the two tables. Wall time, CPU of this process and of the database's backends (from /proc,
 * sampled while they live), table sizes, load average. Results: bench/results/audit-prune-2026-11-30.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { archiveOldEntries, retentionCutoff } from '../src/audit/archive.js';
import { pruneArchived, type PruneOptions } from '../src/audit/prune.js';
import { verifyAuditLog } from '../src/audit/verify.js';
import { createKeyring, createLocalKms } from '../src/crypto/index.js';
import { silentLogger } from '../src/kernel/index.js';
import { createLocalBlobStore, keyringSealer } from '../src/store/blob-store.js';
import { createDb, migrate, type Db, type Queryable } from '../src/store/index.js';
import { withDatabase } from '../test/support/db.js';
import { buildAuditLogFixture } from './audit-log-fixture.js';
import { cpuMsOf } from './cpu-meter.js';
import { machineFacts } from './machine.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const argText = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};

/** CPU of this database's backends, sampled every 100 ms (a backend's total is its largest sample). */
function pgCpuSampler(db: Db, database: string) {
  const seen = new Map<number, number>();
  const sample = async () => {
    const res = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]);
    for (const { pid } of res.rows) seen.set(pid, Math.max(seen.get(pid) ?? 0, cpuMsOf(pid)));
  };
  const timer = setInterval(() => void sample().catch(() => undefined), 100);
  return { sample, total: () => [...seen.values()].reduce((a, b) => a + b, 0), stop: () => clearInterval(timer) };
}

type Sampler = ReturnType<typeof pgCpuSampler>;

async function timed<T>(pgCpu: Sampler, work: () => Promise<T>): Promise<{ value: T; wallMs: number; nodeCpuMs: number; pgCpuMs: number }> {
  await pgCpu.sample();
  const pg0 = pgCpu.total();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await work();
  const wallMs = Math.round(performance.now() - t0);
  const cpu = process.cpuUsage(cpu0);
  await pgCpu.sample();
  return { value, wallMs, nodeCpuMs: Math.round((cpu.user + cpu.system) / 1000), pgCpuMs: Math.round(pgCpu.total() - pg0) };
}

const tableSizes = async (db: Db) =>
  (await db.query<{ batch: string; log: string }>(`SELECT pg_total_relation_size('audit_batch')::text AS batch, pg_total_relation_size('audit_batch_log')::text AS log`)).rows[0]!;

async function main(): Promise<void> {
  const entries = arg('entries', 1_000_000);
  const oldShare = arg('old-share', 0.8);
  const headEvery = arg('head-every', 10_000);
  const results = argText('results', 'bench/results/audit-prune-2026-11-30.json');
  const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `haven_prune_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const db = createDb({ connectionString: withDatabase(server, name), maxConnections: 4 });
  const dir = mkdtempSync(join(tmpdir(), 'haven-prune-bench-'));
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db, kms });
  const pgCpu = pgCpuSampler(db, name);
  try {
    await migrate(db);
    const now = new Date();
    const stepMs = 1000;
    const old = Math.round(entries * oldShare);
    // Entries 0 … old-1 fall before the retention cutoff, the rest after it.
    const startMs = retentionCutoff(now, 6).getTime() - old * stepMs;
    const witnessPath = join(dir, 'witness.jsonl');
    const fixture = await buildAuditLogFixture(db, { entries, headEvery, startMs, stepMs, witnessPath });
    await db.query('VACUUM ANALYZE audit_batch');
    await db.query('VACUUM ANALYZE audit_batch_log');
    const blobs = createLocalBlobStore({ dir: join(dir, 'blobs'), sealer: keyringSealer(keyring) });
    const manifestDir = join(dir, 'archive');
    const load0 = loadavg();
    const archive = await timed(pgCpu, () => archiveOldEntries(db, { blobs, manifestDir, now, retentionYears: 6 }));
    const verifyBefore = await timed(pgCpu, () => verifyAuditLog(db, { witnessPath, checkColumns: true }));
    const sizeBefore = await tableSizes(db);
    const options: PruneOptions = { manifestDir, read: (t, n) => blobs.read(t, n), now, retentionYears: 6, actor: 'bench', confirm: false };
    const checks = await timed(pgCpu, () => pruneArchived(db, options));
    // The deletion alone: the time spent inside audit_prune() calls.
    let deleteMs = 0;
    const pruner: Queryable = {
      query: async (sql, params) => {
        const t0 = performance.now();
        try {
          return await db.query(sql, params);
        } finally {
          deleteMs += performance.now() - t0;
        }
      },
    } as Queryable;
    const prune = await timed(pgCpu, () => pruneArchived(db, { ...options, confirm: true, pruner }));
    const sizeAfterDelete = await tableSizes(db);
    const verifyAfter = await timed(pgCpu, () => verifyAuditLog(db, { witnessPath, checkColumns: true }));
    const verifyAfterWithArchive = await timed(pgCpu, () => verifyAuditLog(db, { witnessPath, checkColumns: true, archiveDir: manifestDir }));
    const vacuum = await timed(pgCpu, async () => {
      await db.query('VACUUM audit_batch');
      await db.query('VACUUM audit_batch_log');
    });
    const sizeAfterVacuum = await tableSizes(db);
    const us = (ms: number, n: number) => Number(((ms * 1000) / n).toFixed(2));
    const pruned = prune.value.entries;
    const phase = (t: { wallMs: number; nodeCpuMs: number; pgCpuMs: number }, n: number) => ({
      wallMs: t.wallMs, nodeCpuMs: t.nodeCpuMs, pgCpuMs: t.pgCpuMs, entriesPerSecond: Math.round(n / (t.wallMs / 1000)), cpuUsPerEntry: { node: us(t.nodeCpuMs, n), postgres: us(t.pgCpuMs, n) },
    });
    const result = {
      bench: 'audit-prune', date: new Date().toISOString(), machine: machineFacts(), backend: server.replace(/\/\/[^@]*@/, '//'),
      entries, headEvery, entriesPerBatch: 16, oldEntries: old, fixtureSeconds: fixture.seconds,
      archive: { segments: archive.value.length, ...phase(archive, old) },
      verifyBefore: { ok: verifyBefore.value.ok, entries: verifyBefore.value.entries, ...phase(verifyBefore, verifyBefore.value.entries) },
      pruneChecksOnly: { problems: checks.value.problems.length, ...phase(checks, old) },
      prune: {
        problems: prune.value.problems, batches: prune.value.batches, entries: pruned, firstKept: prune.value.target,
        ...phase(prune, pruned),
        deleteOnly: { wallMs: Math.round(deleteMs), entriesPerSecond: Math.round(pruned / (deleteMs / 1000)), batchesPerSecond: Math.round(prune.value.batches / (deleteMs / 1000)) },
      },
      verifyAfter: { ok: verifyAfter.value.ok, startedAt: verifyAfter.value.startedAt, entries: verifyAfter.value.entries, ...phase(verifyAfter, verifyAfter.value.entries) },
      verifyAfterWithArchive: { ok: verifyAfterWithArchive.value.ok, headsCheckedAgainstArchive: verifyAfterWithArchive.value.pruned.headsChecked, ...phase(verifyAfterWithArchive, verifyAfterWithArchive.value.entries) },
      vacuum: { wallMs: vacuum.wallMs, pgCpuMs: vacuum.pgCpuMs },
      tableBytes: { before: sizeBefore, afterDelete: sizeAfterDelete, afterVacuum: sizeAfterVacuum },
      loadAverage: { before: load0, after: loadavg() },
      note: 'pruneChecksOnly = a dry run (manifests keyless + every archived entry decrypted and hashed); prune = the same checks again, the audit entry, then audit_prune() in steps of 10,000 batches (deleteOnly). CPU: this process (all threads) and the database backends from /proc. Shared 2-core machine: wall-clock rates are noisy; compare CPU per entry.',
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync(results, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    pgCpu.stop();
    await keyring.close();
    await kms.close();
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
