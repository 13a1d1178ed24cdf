import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { backupCommand } from '../../src/cli/backup-command.js';
import { parseArgs } from '../../src/cli/args.js';
import { backupLocation } from '../../src/cli/backup-target.js';
import { loadConfig } from '../../src/config/index.js';
import { createEnvelopeCodec, createKeyring, createLocalKms, type Kms } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { createLocalBlobStore, keyringSealer } from '../../src/store/blob-store.js';
import { createS3Backup, parseS3Uri, restoreS3Backup, type S3BackupTarget } from '../../src/store/backup/s3-target.js';
import { startS3Fake, type S3Fake } from '../audit/fakes/s3-fake.js';
import { createTestDb, type TestDb } from '../support/db.js';

/**
 * `haven backup --to s3://…` / `haven restore --from s3://…` against a LOCAL
 * FAKE of the S3 API (test/audit/fakes/s3-fake.ts: SigV4 checked from the
 * spec, PutObject with If-None-Match, GetObject): no real S3 is reachable
 * from where this is tested.
 */
let src: TestDb;
let s3: S3Fake;
let kms: Kms;
let work: string;
const CANARY = 'Zqxs3canary';
const targets: TestDb[] = [];

const target = (prefix: string, partBytes = 4096): S3BackupTarget => ({
  s3: { url: s3.url, bucket: s3.bucket, region: s3.region, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, retries: 1 },
  prefix,
  partBytes,
});
const staging = () => join(work, 'staging', Math.random().toString(36).slice(2));

before(async () => {
  src = await createTestDb();
  s3 = await startS3Fake();
  s3.bucket = 'haven-backup';
  work = mkdtempSync(join(tmpdir(), 'haven-backup-s3-'));
  kms = createLocalKms({ dataDir: work, env: 'test', logger: silentLogger });
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: src.db, kms }) });
  for (let i = 0; i < 40; i++) {
    const id = `p${i}`;
    const bytes = await codec.encode({ tenant: 'default', resourceType: 'Patient', id, versionId: 1 }, JSON.stringify({ resourceType: 'Patient', id, name: [{ family: `${CANARY}${i}` }] }));
    await src.db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content) VALUES ('default', 'Patient', $1, 1, now(), $2)`, [id, bytes]);
    await src.db.query(`INSERT INTO resource_version (tenant_id, resource_type, id, version_id, last_updated, method, content) VALUES ('default', 'Patient', $1, 1, now(), 'POST', $2)`, [id, bytes]);
  }
  const blobs = createLocalBlobStore({ dir: join(work, 'blobs'), sealer: keyringSealer(createKeyring({ db: src.db, kms })) });
  const w = await blobs.create('default', 'exports/job1/Patient.ndjson');
  await w.write(`{"resourceType":"Patient","name":[{"family":"${CANARY}blob"}]}\n`.repeat(200));
  await w.close();
});
after(async () => {
  for (const t of targets) await t.drop();
  await src.drop();
  await kms.close();
  await s3.close();
  rmSync(work, { recursive: true, force: true });
});

async function emptyTarget(): Promise<TestDb> {
  const t = await createTestDb();
  targets.push(t);
  return t;
}

const rowsOf = async (db: TestDb['db'], table: string) => (await db.query(`SELECT * FROM ${table} ORDER BY 1, 2, 3`)).rows.map((r) => JSON.stringify(r));
const latest = (key: string) => s3.objects.get(key)!.at(-1)!;

test('backup to a bucket in parts holds no plaintext, and restores into an empty instance equal to the source', async () => {
  const m = await createS3Backup({ db: src.db, kms, blobDir: join(work, 'blobs'), target: target('nightly/b1'), stagingDir: staging() });
  assert.ok(m.objects > m.files.length, `large files were split into parts (${m.objects} objects for ${m.files.length} files)`);
  const keys = [...s3.objects.keys()].filter((k) => k.startsWith('nightly/b1/'));
  assert.ok(keys.includes('nightly/b1/manifest.json') && keys.includes('nightly/b1/layout.json'));
  assert.ok(keys.some((k) => /\.part-00001$/.test(k)), 'a multi-part file');
  for (const k of keys) assert.ok(!latest(k).body!.includes(CANARY), `${k} holds no canary`);

  const t = await emptyTarget();
  const restoredBlobs = join(work, 'restored-blobs');
  const r = await restoreS3Backup({ db: t.db, kms, blobDir: restoredBlobs, target: target('nightly/b1'), stagingDir: staging(), keyStore: src.db });
  assert.equal(r.backupId, m.backupId);
  for (const table of ['resource', 'resource_version', 'data_key']) assert.deepEqual(await rowsOf(t.db, table), await rowsOf(src.db, table), `${table} equals the source`);
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  const row = (await t.db.query<{ content: Buffer }>(`SELECT content FROM resource WHERE id = 'p7'`)).rows[0]!;
  assert.match(await codec.decode({ tenant: 'default', resourceType: 'Patient', id: 'p7', versionId: 1 }, row.content), new RegExp(`${CANARY}7`));
  const parts: Buffer[] = [];
  const blobs = createLocalBlobStore({ dir: restoredBlobs, sealer: keyringSealer(createKeyring({ db: t.db, kms })) });
  for await (const c of blobs.read('default', 'exports/job1/Patient.ndjson')) parts.push(c);
  assert.equal(Buffer.concat(parts).toString('utf8').split('\n').length, 201, 'the blob is restored and decrypts');
  await assert.rejects(createS3Backup({ db: src.db, kms, target: target('nightly/b1'), stagingDir: staging() }), /BACKUP_TARGET_NOT_EMPTY|already holds a backup/);
});

async function refused(mutate: (prefix: string) => void, reason: RegExp): Promise<void> {
  const prefix = `c/${Math.random().toString(36).slice(2)}`;
  await createS3Backup({ db: src.db, kms, target: target(prefix), stagingDir: staging() });
  mutate(prefix);
  const t = await emptyTarget();
  await assert.rejects(restoreS3Backup({ db: t.db, kms, target: target(prefix), stagingDir: staging(), keyStore: src.db }), (err: Error) => {
    assert.match(err.message, reason);
    return true;
  });
  assert.equal(Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource')).rows[0]!.n), 0, 'nothing was written');
}

test('a corrupted bucket backup is refused with the reason, before anything is written', async () => {
  await refused((p) => {
    const v = latest(`${p}/tenants/0000/resource.jsonl.sealed.part-00001`);
    v.body![100]! ^= 0x01;
  }, /resource\.jsonl\.sealed does not match its SHA-256/);
  await refused((p) => s3.objects.delete(`${p}/tenants/0000/resource_version.jsonl.sealed.part-00000`), /resource_version\.jsonl\.sealed \(part 1 of \d+\) is missing from the bucket/);
  await refused((p) => s3.objects.delete(`${p}/manifest.json`), /manifest\.json is missing/);
  await refused((p) => {
    const v = latest(`${p}/manifest.json`);
    const outer = JSON.parse(v.body!.toString('utf8'));
    outer.manifest = outer.manifest.replace(/"rows":(\d+)/, (_: string, n: string) => `"rows":${Number(n) + 1}`);
    v.body = Buffer.from(JSON.stringify(outer));
  }, /manifest\.json was altered/);
});

test('bad credentials and an unreachable endpoint fail with S3_REQUEST_FAILED and leave no staging behind', async () => {
  const bad = target('x/1');
  bad.s3.credentials = { accessKeyId: s3.accessKeyId, secretAccessKey: 'wrong' };
  const dir = staging();
  await assert.rejects(createS3Backup({ db: src.db, kms, target: bad, stagingDir: dir }), /S3_REQUEST_FAILED|SignatureDoesNotMatch/);
  const down = target('x/2');
  down.s3.url = 'http://127.0.0.1:9';
  await assert.rejects(restoreS3Backup({ db: src.db, kms, target: down, stagingDir: dir }), /network error/);
  assert.ok(!(await import('node:fs')).existsSync(dir));
});

test('haven backup / restore with s3:// and with HAVEN_BACKUP_S3_* only (the CLI end to end)', async () => {
  const dataDir = work; // the local KMS key file of this test lives here
  const env = { HAVEN_ENV: 'test', HAVEN_DATA_DIR: dataDir, DATABASE_URL: src.url, HAVEN_BACKUP_S3_URL: s3.url, HAVEN_BACKUP_S3_REGION: s3.region,
    HAVEN_BACKUP_S3_ACCESS_KEY_ID: s3.accessKeyId, HAVEN_BACKUP_S3_SECRET_ACCESS_KEY: s3.secretAccessKey, HAVEN_BACKUP_S3_PART_MB: '1' };
  const lines: string[] = [];
  const print = (l: string) => lines.push(l);
  assert.equal(await backupCommand(parseArgs(['backup', '--to', 's3://haven-backup/cli/one']), loadConfig(env), silentLogger, print, {}), 0);
  assert.match(lines.at(-1)!, /^backup [0-9a-f-]{36}: \d+ file\(s\), \d+ row\(s\) to s3:\/\/haven-backup\/cli\/one$/);
  const withBucket = loadConfig({ ...env, HAVEN_BACKUP_S3_BUCKET: 'haven-backup', HAVEN_BACKUP_S3_PREFIX: 'scheduled' });
  assert.equal(await backupCommand(parseArgs(['backup']), withBucket, silentLogger, print, {}), 0);
  assert.match(lines.at(-1)!, / to s3:\/\/haven-backup\/scheduled\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
  const t = await emptyTarget();
  assert.equal(await backupCommand(parseArgs(['restore', '--from', 's3://haven-backup/cli/one', '--keys-from', src.url]), loadConfig({ ...env, DATABASE_URL: t.url, HAVEN_BLOB_DIR: join(work, 'cli-restored-blobs') }), silentLogger, print, {}), 0);
  assert.deepEqual(await rowsOf(t.db, 'resource'), await rowsOf(src.db, 'resource'));
});

test('s3:// arguments and settings are parsed strictly', () => {
  assert.deepEqual(parseS3Uri('s3://my-bucket/a/b/'), { bucket: 'my-bucket', prefix: 'a/b' });
  assert.equal(parseS3Uri('s3://my-bucket'), undefined, 'a prefix is required');
  assert.equal(parseS3Uri('s3://My_Bucket/x'), undefined);
  assert.equal(parseS3Uri('s3://bucket/a b'), undefined);
  const config = loadConfig({ HAVEN_ENV: 'test', HAVEN_BACKUP_S3_REGION: 'eu-west-3' });
  assert.throws(() => backupLocation('s3://b-1/p', config, {}), /BACKUP_S3_CONFIG_INVALID|ACCESS_KEY_ID/);
  const loc = backupLocation('s3://b-1/p', config, { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK', AWS_SESSION_TOKEN: 'T' });
  assert.ok(loc?.kind === 's3');
  assert.equal(loc.target.s3.url, 'https://s3.eu-west-3.amazonaws.com');
  assert.equal(loc.target.s3.credentials.sessionToken, 'T');
  assert.equal(loc.target.partBytes, 64 * 1024 * 1024);
  assert.deepEqual(backupLocation('./dir', config, {}), { kind: 'dir', dir: join(process.cwd(), 'dir') });
  assert.equal(backupLocation(undefined, config, {}), undefined);
  assert.throws(() => loadConfig({ HAVEN_BACKUP_S3_PREFIX: '../x' }), /HAVEN_BACKUP_S3_PREFIX/);
});

test('object keys never hold a . or .. segment (a URL would resolve it to another key)', () => {
  assert.equal(parseS3Uri('s3://bucket/a/../b'), undefined);
  assert.equal(parseS3Uri('s3://bucket/./b'), undefined);
  assert.deepEqual(parseS3Uri('s3://bucket/a..b/.c'), { bucket: 'bucket', prefix: 'a..b/.c' });
});
