/**
 * DEK rotation of blobs (docs/security/encryption.md, DEK rotation): writes
 * N blobs of M MiB through the encrypted blob store, rotates the `blobs` DEK
 * and times the re-encryption job (real worker, key ring, local KMS), then the
 * check that the old key is unused. Re-sealing is Node work (AES-GCM and file
 * I/O), so the figure that holds on a shared machine is Node CPU per MiB.
 * Run: node dist/bench/dek-rotation-blobs.js [N] [M]  (default 64 blobs of 1 MiB).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminQuery, freshDatabase } from './pg-admin.js';
import { startDekRotation, workReencryption } from '../src/cli/keys-dek.js';
import { createKeyring, createLocalKms } from '../src/crypto/index.js';
import { silentLogger } from '../src/kernel/index.js';
import { createDb, migrate } from '../src/store/index.js';
import { countBlobsSealedWith } from '../src/store/reencrypt/worker.js';
import { createLocalBlobStore, keyringSealer } from '../src/store/blob-store.js';

const serverUrl = process.env.DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const N = Number(process.argv[2] ?? 64);
const MIB = Number(process.argv[3] ?? 1);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-dek-blobs-'));
  const blobDir = join(dir, 'blobs');
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const db = createDb({ connectionString: await freshDatabase(serverUrl, 'haven_bench_dek_blobs'), maxConnections: 4 });
  try {
    await migrate(db);
    const blobs = createLocalBlobStore({ dir: blobDir, sealer: keyringSealer(createKeyring({ db, kms })) });
    const chunk = randomBytes(1024 * 1024).toString('base64').slice(0, 1024 * 1024);
    for (let i = 0; i < N; i++) {
      const w = await blobs.create('default', `exports/job${i}/Observation.ndjson`);
      for (let k = 0; k < MIB; k++) await w.write(chunk);
      await w.close();
    }
    const deps = { db, kms, logger: silentLogger, settleMs: 0, blobDir };
    const load = loadavg()[0]!;
    let [t, c] = [performance.now(), cpuMs()];
    await startDekRotation(deps, 'default', 'blobs');
    const run = await workReencryption(deps);
    const [rotateMs, rotateCpu] = [performance.now() - t, cpuMs() - c];
    [t, c] = [performance.now(), cpuMs()];
    const left = await countBlobsSealedWith(blobDir, 'default', 1);
    const [countMs, countCpu] = [performance.now() - t, cpuMs() - c];
    const mib = N * MIB;
    const result = {
      bench: 'dek-rotation-blobs', at: new Date().toISOString(), blobs: N, mib, loadAverage1m: +load.toFixed(2),
      reencrypt: { ms: Math.round(rotateMs), nodeCpuMs: Math.round(rotateCpu), nodeCpuMsPerMiB: +(rotateCpu / mib).toFixed(2), mibPerSecond: +(mib / (rotateMs / 1000)).toFixed(1), blobsRewritten: run.rewritten, batches: run.batches },
      usageCheck: { ms: Math.round(countMs), nodeCpuMs: Math.round(countCpu), blobsStillOnV1: left },
    };
    console.log(JSON.stringify(result, null, 2));
    writeFileSync(join('bench', 'results', `dek-rotation-blobs-${result.at.slice(0, 10)}.json`), JSON.stringify(result, null, 2) + '\n');
  } finally {
    await db.close();
    await adminQuery(serverUrl, 'DROP DATABASE IF EXISTS haven_bench_dek_blobs WITH (FORCE)');
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
