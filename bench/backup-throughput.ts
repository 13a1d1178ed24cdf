/**
 * `haven backup` / `haven restore` throughput (docs/security/encryption.md,
 * Backups): two tenants of N encrypted Patient rows each (current + history)
 * and M MiB of blobs each, backed up to a directory and restored into an empty
 * database. Reports MB of backup per second of wall time and, because the
 * machine is shared, Node CPU and PostgreSQL-backend CPU per MB.
 * Run: node dist/bench/backup-throughput.js [N] [M] [label]  (default 5000 rows, 8 MiB).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { adminQuery, freshDatabase } from './pg-admin.js';
import { cpuMsOf } from './cpu-meter.js';
import { createEnvelopeCodec, createKeyring, createLocalKms } from '../src/crypto/index.js';
import { silentLogger } from '../src/kernel/index.js';
import { createDb, migrate, type Db } from '../src/store/index.js';
import { createBackup } from '../src/store/backup/backup.js';
import { restoreBackup } from '../src/store/backup/restore.js';
import { createLocalBlobStore, keyringSealer } from '../src/store/blob-store.js';

const serverUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.argv[2] ?? 5000);
const MIB = Number(process.argv[3] ?? 8);
const LABEL = process.argv[4] ?? 'run';
const TENANTS = ['default', 'clinic-b'];
const nodeCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** CPU of the PostgreSQL backends of the bench databases (same host). */
async function pgCpuMs(admin: pg.Client): Promise<number> {
  const res = await admin.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE datname LIKE 'haven_bench_backup%' AND pid <> pg_backend_pid()`);
  return res.rows.reduce((n, r) => n + cpuMsOf(r.pid), 0);
}

const dirBytes = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).reduce((n, f) => n + (statSync(join(dir, f)).isFile() ? statSync(join(dir, f)).size : 0), 0);

async function seed(db: Db, blobDir: string, kms: ReturnType<typeof createLocalKms>): Promise<void> {
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db, kms }) });
  const blobs = createLocalBlobStore({ dir: blobDir, sealer: keyringSealer(createKeyring({ db, kms })) });
  const filler = randomBytes(600).toString('base64');
  for (const tenant of TENANTS) {
    for (let i = 0; i < N; i += 500) {
      const ids: string[] = [];
      const bodies: Buffer[] = [];
      for (let k = i; k < Math.min(N, i + 500); k++) {
        const id = `p${k}`;
        ids.push(id);
        bodies.push(await codec.encode({ tenant, resourceType: 'Patient', id, versionId: 1 }, JSON.stringify({ resourceType: 'Patient', id, name: [{ family: `Bench${k}` }], text: { div: filler } })));
      }
      await db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content) SELECT $1, 'Patient', unnest($2::text[]), 1, now(), unnest($3::bytea[])`, [tenant, ids, bodies]);
      await db.query(`INSERT INTO resource_version (tenant_id, resource_type, id, version_id, last_updated, method, content) SELECT $1, 'Patient', unnest($2::text[]), 1, now(), 'POST', unnest($3::bytea[])`, [tenant, ids, bodies]);
    }
    const chunk = randomBytes(1024 * 1024).toString('base64').slice(0, 1024 * 1024);
    const w = await blobs.create(tenant, 'exports/bench/Observation.ndjson');
    for (let k = 0; k < MIB; k++) await w.write(chunk);
    await w.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-backup-'));
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const src = createDb({ connectionString: await freshDatabase(serverUrl, 'haven_bench_backup_src'), maxConnections: 4 });
  const dst = createDb({ connectionString: await freshDatabase(serverUrl, 'haven_bench_backup_dst'), maxConnections: 4 });
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await migrate(src);
    await migrate(dst);
    await seed(src, join(dir, 'blobs'), kms);
    const out = join(dir, 'backup');
    const load = loadavg()[0]!;
    let [t, c, p] = [performance.now(), nodeCpuMs(), await pgCpuMs(admin)];
    await createBackup({ db: src, kms, out, blobDir: join(dir, 'blobs') });
    const backup = { ms: performance.now() - t, nodeCpuMs: nodeCpuMs() - c, pgCpuMs: (await pgCpuMs(admin)) - p };
    const mb = dirBytes(out) / 1e6;
    [t, c, p] = [performance.now(), nodeCpuMs(), await pgCpuMs(admin)];
    // keyStore: where the tenants' backup DEKs are (format 2); a format-1 build ignores it.
    const restoreOptions = { db: dst, kms, from: out, blobDir: join(dir, 'restored-blobs'), keyStore: src };
    await restoreBackup(restoreOptions);
    const restore = { ms: performance.now() - t, nodeCpuMs: nodeCpuMs() - c, pgCpuMs: (await pgCpuMs(admin)) - p };
    const fig = (x: typeof backup) => ({
      ms: Math.round(x.ms), mbPerSecond: +(mb / (x.ms / 1000)).toFixed(1), nodeCpuMs: Math.round(x.nodeCpuMs), pgCpuMs: Math.round(x.pgCpuMs),
      nodeCpuMsPerMB: +(x.nodeCpuMs / mb).toFixed(1), pgCpuMsPerMB: +(x.pgCpuMs / mb).toFixed(1), mbPerCpuSecond: +(mb / ((x.nodeCpuMs + x.pgCpuMs) / 1000)).toFixed(1),
    });
    const result = { bench: 'backup-throughput', label: LABEL, at: new Date().toISOString(), tenants: TENANTS.length, rowsPerTenant: N * 2, blobMiBPerTenant: MIB, backupMB: +mb.toFixed(1), loadAverage1m: +load.toFixed(2), backup: fig(backup), restore: fig(restore) };
    console.log(JSON.stringify(result, null, 2));
    writeFileSync(join('bench', 'results', `backup-throughput-${LABEL}-${result.at.slice(0, 16).replace(':', '-')}.json`), JSON.stringify(result, null, 2) + '\n');
  } finally {
    await admin.end();
    await src.close();
    await dst.close();
    await adminQuery(serverUrl, 'DROP DATABASE IF EXISTS haven_bench_backup_src WITH (FORCE)');
    await adminQuery(serverUrl, 'DROP DATABASE IF EXISTS haven_bench_backup_dst WITH (FORCE)');
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
