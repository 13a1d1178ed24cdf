/**
 * DEK rotation and backup throughput (docs/security/encryption.md): seeds N
 * sealed resource rows (current + history) into a fresh database, then times
 * the background re-encryption (real worker, real key ring, local KMS), a full
 * backup and a restore into a second empty database.
 * Run: node dist/bench/dek-rotation.js [N]  (default 20000; under 60 s on 2 cores).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDatabase } from './pg-admin.js';
import { startDekRotation, workReencryption } from '../src/cli/keys-dek.js';
import { createEnvelopeCodec, createKeyring, createLocalKms } from '../src/crypto/index.js';
import { silentLogger } from '../src/kernel/index.js';
import { createDb, migrate, type Db } from '../src/store/index.js';
import { createBackup } from '../src/store/backup/backup.js';
import { restoreBackup } from '../src/store/backup/restore.js';

const serverUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.argv[2] ?? 20000);

async function freshDb(name: string): Promise<Db> {
  const db = createDb({ connectionString: await freshDatabase(serverUrl, name), maxConnections: 4 });
  await migrate(db);
  return db;
}

async function seed(db: Db, codec: ReturnType<typeof createEnvelopeCodec>): Promise<number> {
  let bytes = 0;
  for (let start = 0; start < N; start += 1000) {
    const ids: string[] = [];
    const bodies: Buffer[] = [];
    for (let i = start; i < Math.min(N, start + 1000); i++) {
      const id = `p${i}`;
      const json = JSON.stringify({ resourceType: 'Patient', id, name: [{ family: `Family${i}`, given: ['Given'] }], birthDate: '1970-01-01', telecom: [{ system: 'phone', value: `555-${i}` }] });
      const b = await codec.encode({ tenant: 'default', resourceType: 'Patient', id, versionId: 1 }, json);
      ids.push(id);
      bodies.push(b);
      bytes += b.length;
    }
    for (const table of ['resource', 'resource_version']) {
      const method = table === 'resource' ? '' : ", 'POST'";
      await db.query(
        `INSERT INTO ${table} (tenant_id, resource_type, id, version_id, last_updated, ${table === 'resource' ? '' : 'method, '}content)
         SELECT 'default', 'Patient', i, 1, now()${method}, c FROM UNNEST($1::text[], $2::bytea[]) AS u(i, c)`,
        [ids, bodies],
      );
    }
  }
  return bytes * 2;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-dek-'));
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const db = await freshDb('haven_bench_dek');
  const target = await freshDb('haven_bench_dek_restore');
  try {
    const bytes = await seed(db, createEnvelopeCodec({ keyring: createKeyring({ db, kms }) }));
    const deps = { db, kms, logger: silentLogger, settleMs: 0 };
    let t = performance.now();
    await startDekRotation(deps, 'default', 'resources');
    const run = await workReencryption(deps);
    const rotateMs = performance.now() - t;
    t = performance.now();
    const m = await createBackup({ db, kms, out: join(dir, 'backup') });
    const backupMs = performance.now() - t;
    const backupBytes = m.files.reduce((n, f) => n + f.bytes, 0);
    t = performance.now();
    await restoreBackup({ db: target, kms, from: join(dir, 'backup') });
    const restoreMs = performance.now() - t;
    const result = {
      bench: 'dek-rotation', at: new Date().toISOString(), rows: 2 * N, sealedBytes: bytes,
      reencrypt: { ms: Math.round(rotateMs), rowsPerSecond: Math.round((run.rewritten || 2 * N) / (rotateMs / 1000)), batches: run.batches },
      backup: { ms: Math.round(backupMs), bytes: backupBytes, mbPerSecond: +(backupBytes / 1e6 / (backupMs / 1000)).toFixed(1) },
      restore: { ms: Math.round(restoreMs), mbPerSecond: +(backupBytes / 1e6 / (restoreMs / 1000)).toFixed(1) },
    };
    console.log(JSON.stringify(result, null, 2));
    writeFileSync(join('bench', 'results', `dek-rotation-${result.at.slice(0, 10)}.json`), JSON.stringify(result, null, 2) + '\n');
  } finally {
    await db.close();
    await target.close();
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
