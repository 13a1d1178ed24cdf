/**
 * Audit retention archive at scale:
 *   node dist/bench/audit-archive.js [--entries N] [--head-every K]
 * Builds a real log of N entries recorded 7 years ago (bench/audit-log-fixture.ts) in a fresh
 * database on DATABASE_URL, then times archiveOldEntries (tenant blobs encrypted through a local
 * KMS keyring, manifests) and both verifications (keyless manifests; entries with the keys).
 * Reports wall time, CPU of this process per entry and the load average, and writes
 * bench/results/audit-archive-2026-11-29.json.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { archiveOldEntries } from '../src/audit/archive.js';
import { verifyArchiveDir, verifyEntries } from '../src/audit/archive-verify.js';
import { createKeyring, createLocalKms } from '../src/crypto/index.js';
import { silentLogger } from '../src/kernel/index.js';
import { createLocalBlobStore, keyringSealer } from '../src/store/blob-store.js';
import { createDb, migrate } from '../src/store/index.js';
import { withDatabase } from '../test/support/db.js';
import { buildAuditLogFixture } from './audit-log-fixture.js';
import { machineFacts } from './machine.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await work();
  const cpu = process.cpuUsage(cpu0);
  return { value, wallMs: Math.round(performance.now() - t0), cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
}

async function main(): Promise<void> {
  const entries = arg('entries', 200_000);
  const headEvery = arg('head-every', 1000);
  const server = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const name = `haven_archive_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const db = createDb({ connectionString: withDatabase(server, name), maxConnections: 4 });
  const dir = mkdtempSync(join(tmpdir(), 'haven-archive-bench-'));
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db, kms });
  try {
    await migrate(db);
    await buildAuditLogFixture(db, { entries, headEvery, startMs: Date.now() - 7 * 365 * 86_400_000, stepMs: 1 });
    const blobs = createLocalBlobStore({ dir: join(dir, 'blobs'), sealer: keyringSealer(keyring) });
    const manifestDir = join(dir, 'archive');
    const load0 = loadavg();
    const archive = await timed(() => archiveOldEntries(db, { blobs, manifestDir, now: new Date(), retentionYears: 6 }));
    const keyless = await timed(async () => verifyArchiveDir(manifestDir));
    const withKeys = await timed(async () => {
      const problems: string[] = [];
      for (const m of keyless.value.segments) problems.push(...(await verifyEntries(m, (t, n) => blobs.read(t, n))));
      return problems;
    });
    const per = (ms: number) => Number(((ms * 1000) / entries).toFixed(2));
    const result = {
      bench: 'audit-archive', date: new Date().toISOString(), machine: machineFacts(), entries, headEvery,
      segments: archive.value.length, problems: [...keyless.value.problems, ...withKeys.value].length,
      archive: { wallMs: archive.wallMs, nodeCpuMs: archive.cpuMs, cpuUsPerEntry: per(archive.cpuMs), entriesPerSecond: Math.round(entries / (archive.wallMs / 1000)) },
      verifyKeyless: { wallMs: keyless.wallMs, nodeCpuMs: keyless.cpuMs, cpuUsPerEntry: per(keyless.cpuMs) },
      verifyWithKeys: { wallMs: withKeys.wallMs, nodeCpuMs: withKeys.cpuMs, cpuUsPerEntry: per(withKeys.cpuMs) },
      loadAverage: { before: load0, after: loadavg() },
      note: 'CPU is this process only (PostgreSQL backends not counted); 2-core machine shared with other workers',
    };
    mkdirSync('bench/results', { recursive: true });
    writeFileSync('bench/results/audit-archive-2026-11-29.json', `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await keyring.close();
    await kms.close();
    await db.close();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
