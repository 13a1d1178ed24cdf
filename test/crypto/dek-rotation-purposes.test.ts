import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from '../../src/cli/args.js';
import { destroyRetired, startDekRotations, workReencryption, type DekDeps } from '../../src/cli/keys-dek.js';
import { keysCommand } from '../../src/cli/keys.js';
import { loadConfig } from '../../src/config/index.js';
import { createEnvelopeCodec, createKeyring, createLocalKms, REENCRYPTED_PURPOSES, ROTATABLE_PURPOSES, type Keyring, type Kms } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { blobKeyVersions, listTenantBlobs, resealBlob } from '../../src/store/blob-reseal.js';
import { createLocalBlobStore, keyringSealer, type BlobStore } from '../../src/store/blob-store.js';
import { countBlobsSealedWith, countSealedWith, reencryptionStatus, retryFailedReencryption } from '../../src/store/reencrypt/worker.js';
import { createTestDb, type TestDb } from '../support/db.js';

/**
 * `haven keys rotate --dek` rotates every purpose that holds ciphertext:
 * `resources` (resource bodies, history, HL7 v2 message bodies) and `blobs`
 * (bulk export files, audit archive segments). For each: data decrypts after
 * the rotation, with a fresh key ring, and the old DEK can then be destroyed.
 */
let t: TestDb;
let kms: Kms;
let work: string;
let blobDir: string;
let deps: DekDeps;
const freshBlobs = (dir = blobDir): BlobStore => createLocalBlobStore({ dir, sealer: keyringSealer(createKeyring({ db: t.db, kms })), segmentBytes: 64 });

before(async () => {
  t = await createTestDb();
  work = mkdtempSync(join(tmpdir(), 'haven-dek-purposes-'));
  blobDir = join(work, 'blobs');
  kms = createLocalKms({ dataDir: work, env: 'test', logger: silentLogger });
  deps = { db: t.db, kms, logger: silentLogger, actor: 'test', settleMs: 0, blobDir };
});
after(async () => {
  await kms.close();
  await t.drop();
  rmSync(work, { recursive: true, force: true });
});

async function readBlob(store: BlobStore, name: string, tenant = 'default'): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of store.read(tenant, name)) parts.push(c);
  return Buffer.concat(parts).toString('utf8');
}

/** Export-like and archive-like blobs of several segments (64-byte segments) under the current `blobs` key. */
async function writeBlobs(store: BlobStore, tenant: string, n: number): Promise<Map<string, string>> {
  const want = new Map<string, string>();
  for (let i = 0; i < n; i++) {
    const name = i % 2 === 0 ? `exports/job${i}/Patient.ndjson` : `audit-archive/${String(i).padStart(20, '0')}.jsonl`;
    const text = Array.from({ length: 5 }, (_, k) => `{"resourceType":"Patient","id":"p${i}-${k}","name":[{"family":"Rotblob${i}"}]}\n`).join('');
    const w = await store.create(tenant, name);
    await w.write(text);
    await w.close();
    want.set(name, text);
  }
  return want;
}

async function seedRows(count: number): Promise<void> {
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  for (let i = 0; i < count; i++) {
    const id = `r${i}`;
    const bytes = await codec.encode({ tenant: 'default', resourceType: 'Patient', id, versionId: 1 }, JSON.stringify({ resourceType: 'Patient', id }));
    await t.db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content) VALUES ('default', 'Patient', $1, 1, now(), $2)`, [id, bytes]);
    await t.db.query(`INSERT INTO resource_version (tenant_id, resource_type, id, version_id, last_updated, method, content) VALUES ('default', 'Patient', $1, 1, now(), 'POST', $2)`, [id, bytes]);
  }
  const hl7 = { tenant: 'default', resourceType: 'Hl7v2Message', id: '0b7f5c1e-8d9a-4c1b-9f00-0000000000aa', versionId: 1 };
  await t.db.query(
    `INSERT INTO hl7v2_message (tenant_id, id, channel, sender, status, body, body_bytes, received_at, updated_at) VALUES ('default', $1, 'mllp', 'LAB^HOSP', 'processed', $2, 20, now(), now())`,
    [hl7.id, await codec.encode(hl7, 'MSH|^~\\&|LAB|HOSP\r')],
  );
}

test('rotate --dek covers every purpose holding ciphertext; each decrypts afterwards and each old DEK is destroyed', async () => {
  // `audit` rotates too, without re-encryption (signed entries are never rewritten): test/audit/sealed.test.ts.
  assert.deepEqual([...ROTATABLE_PURPOSES], ['resources', 'blobs', 'audit']);
  assert.deepEqual([...REENCRYPTED_PURPOSES], ['resources', 'blobs']);
  await seedRows(12);
  const want = await writeBlobs(freshBlobs(), 'default', 7);
  const other = await writeBlobs(freshBlobs(), 'clinic-b', 2);
  const rotated = await startDekRotations(deps, 'default', [...ROTATABLE_PURPOSES]);
  assert.deepEqual(rotated.map((r) => [r.purpose, r.from, r.to]), [['resources', 1, 2], ['blobs', 1, 2]]);
  const blobJob = rotated.find((r) => r.purpose === 'blobs')!.jobId;

  // Resumable: a bounded run stops mid-way (saved cursor), the next run finishes.
  const first = await workReencryption(deps, { batchSize: 2, maxBatches: 9 });
  assert.equal(first.batches, 9);
  const mid = (await reencryptionStatus(t.db)).find((j) => j.jobId === blobJob)!;
  assert.equal(mid.table, 'blobs');
  const second = await workReencryption(deps, { batchSize: 2 });
  assert.equal(first.tasksDone + second.tasksDone, 4, 'three table tasks and one blob task');
  assert.ok((await reencryptionStatus(t.db)).every((j) => j.status === 'done'));
  assert.equal((await reencryptionStatus(t.db)).find((j) => j.jobId === blobJob)!.rewritten, 7, 'every blob of the tenant was re-sealed once');

  assert.equal(await countSealedWith(t.db, 'default', 1), 0);
  assert.equal(await countBlobsSealedWith(blobDir, 'default', 1), 0);
  for (const name of await listTenantBlobs(blobDir, 'default')) assert.deepEqual([...(await blobKeyVersions(join(blobDir, 'default', name)))], [2], name);
  assert.deepEqual([...(await blobKeyVersions(join(blobDir, 'clinic-b', [...other.keys()][0]!)))], [1], 'another tenant is not touched');

  const report = await destroyRetired(deps);
  assert.deepEqual(report.destroyed.sort(), ['default/blobs/v1', 'default/resources/v1']);
  const keys = await t.db.query<{ purpose: string; version: number; status: string }>(`SELECT purpose, version, status FROM data_key WHERE tenant_id = 'default' ORDER BY 1, 2`);
  assert.deepEqual(keys.rows.map((k) => `${k.purpose}/v${k.version}=${k.status}`), ['blobs/v1=destroyed', 'blobs/v2=active', 'resources/v1=destroyed', 'resources/v2=active']);

  // With the old keys gone, a fresh key ring (no cache) reads every blob, row and message.
  const store = freshBlobs();
  for (const [name, text] of want) assert.equal(await readBlob(store, name), text, name);
  for (const [name, text] of other) assert.equal(await readBlob(store, name, 'clinic-b'), text);
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  for (const table of ['resource', 'resource_version']) {
    const rows = await t.db.query<{ id: string; content: Buffer }>(`SELECT id, content FROM ${table} WHERE tenant_id = 'default'`);
    for (const r of rows.rows) assert.equal(JSON.parse(await codec.decode({ tenant: 'default', resourceType: 'Patient', id: r.id, versionId: 1 }, r.content)).id, r.id);
  }
  const msg = (await t.db.query<{ id: string; body: Buffer }>('SELECT id, body FROM hl7v2_message')).rows[0]!;
  assert.match(await codec.decode({ tenant: 'default', resourceType: 'Hl7v2Message', id: msg.id, versionId: 1 }, msg.body), /^MSH\|/);
  const ops = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_entry WHERE action = 'operation'`);
  assert.ok(Number(ops.rows[0]!.n) >= 4, 'two rotations and two destructions are audited');
});

test('a damaged blob is never re-sealed: the task fails with the reason, the old blobs key is kept, and resumes once restored', async () => {
  const store = freshBlobs();
  const want = await writeBlobs(store, 'tenant-c', 3);
  const name = [...want.keys()][1]!;
  const path = join(blobDir, 'tenant-c', name);
  const good = readFileSync(path);
  const bad = Buffer.from(good);
  bad[40]! ^= 0x01; // inside the first segment's ciphertext
  writeFileSync(path, bad);
  await startDekRotations(deps, 'tenant-c', ['blobs']);
  await assert.rejects(workReencryption(deps), /CRYPTO_DECRYPT_FAILED|failed authentication/);
  assert.deepEqual(readFileSync(path), bad, 'the damaged blob was left exactly as it was');
  const task = (await reencryptionStatus(t.db)).find((j) => j.tenant === 'tenant-c')!;
  assert.match(task.lastError ?? '', /CRYPTO_DECRYPT_FAILED/);
  const kept = await destroyRetired(deps, 'tenant-c');
  assert.deepEqual(kept.destroyed, []);
  assert.match(kept.kept[0]!.reason, /[1-3] stored blob\(s\) still use it/);

  writeFileSync(path, good); // restored from backup
  assert.ok((await retryFailedReencryption(t.db)) >= 1);
  await workReencryption(deps);
  assert.equal(await countBlobsSealedWith(blobDir, 'tenant-c', 1), 0);
  assert.deepEqual((await destroyRetired(deps, 'tenant-c')).destroyed, ['tenant-c/blobs/v1']);
  for (const [n, text] of want) assert.equal(await readBlob(freshBlobs(), n, 'tenant-c'), text);
});

test('a blob rewritten while the job works is not clobbered; rotating only blobs leaves resources alone', async () => {
  const store = freshBlobs();
  await writeBlobs(store, 'tenant-d', 1);
  const before = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM data_key WHERE tenant_id = 'default' AND purpose = 'resources'`);
  const [r] = await startDekRotations(deps, 'tenant-d', ['blobs']);
  assert.equal(r!.purpose, 'blobs');
  // The export writer replaces the file (new contents, sealed with the new key: the key ring sees v2).
  const w = await freshBlobs().create('tenant-d', 'exports/job0/Patient.ndjson');
  await w.write('{"resourceType":"Patient","id":"newer"}\n');
  await w.close();
  await workReencryption(deps);
  assert.equal(await readBlob(freshBlobs(), 'exports/job0/Patient.ndjson', 'tenant-d'), '{"resourceType":"Patient","id":"newer"}\n');
  const after = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM data_key WHERE tenant_id = 'default' AND purpose = 'resources'`);
  assert.equal(after.rows[0]!.n, before.rows[0]!.n);

  // The race itself: the writer replaces the blob while it is being re-sealed (between read and rename).
  const w2 = await freshBlobs().create('tenant-d', 'exports/job9/Patient.ndjson');
  await w2.write('{"id":"old"}\n');
  await w2.close();
  const [r2] = await startDekRotations(deps, 'tenant-d', ['blobs']);
  const ring = createKeyring({ db: t.db, kms });
  let raced = false;
  const racing: Keyring = {
    ...ring,
    async withKey(ref, use) {
      if (!raced) {
        raced = true;
        const w3 = await freshBlobs().create('tenant-d', 'exports/job9/Patient.ndjson');
        await w3.write('{"id":"newest"}\n');
        await w3.close();
      }
      return ring.withKey(ref, use);
    },
  };
  assert.equal(await resealBlob(blobDir, 'tenant-d', 'exports/job9/Patient.ndjson', racing, r2!.to), false, 'the re-sealed copy is discarded');
  assert.equal(await readBlob(freshBlobs(), 'exports/job9/Patient.ndjson', 'tenant-d'), '{"id":"newest"}\n', 'the writer wins');
  assert.deepEqual(readdirSync(join(blobDir, 'tenant-d', 'exports', 'job9')), ['Patient.ndjson'], 'no partial file is left');
  await workReencryption(deps);
});

test('haven keys rotate --dek (the CLI) rotates every purpose, reports blob usage, then destroys the retired keys', async () => {
  const want = await writeBlobs(freshBlobs(), 'default', 2);
  const config = loadConfig({ DATABASE_URL: t.url, HAVEN_DATA_DIR: work, HAVEN_BLOB_DIR: blobDir, HAVEN_LOG_LEVEL: 'silent', HAVEN_DEK_REFRESH_SECONDS: '1' });
  const lines: string[] = [];
  const run = async (...argv: string[]) => {
    lines.length = 0;
    assert.equal(await keysCommand(parseArgs(['keys', ...argv]), config, silentLogger, (l) => lines.push(l)), 0);
    return lines;
  };
  const rotated = await run('rotate', '--dek', '--tenant', 'default', '--background');
  assert.deepEqual(rotated.map((l) => l.replace(/; job .*/, '')), ['DEK rotated: default resources v2 -> v3', 'DEK rotated: default blobs v2 -> v3']);
  const status = await run('status');
  assert.ok(status.some((l) => /^default\tblobs\tv2\tretired\t.*rows=\d+$/.test(l) && !l.endsWith('rows=0')), 'the retired blobs key is still used before the job');
  assert.ok(status.some((l) => /^job default\/dek-blobs-v3\tblobs\tpending/.test(l)));
  await run('reencrypt');
  assert.match(lines.at(-1)!, /task\(s\) finished/);
  const destroyed = await run('destroy-retired', '--tenant', 'default');
  assert.deepEqual(destroyed.sort(), ['destroyed default/blobs/v2', 'destroyed default/resources/v2']);
  for (const [name, text] of want) assert.equal(await readBlob(freshBlobs(), name), text);
});
