import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createAuditRecorder } from '../../src/audit/recorder.js';
import { objectUrl, putLocked, s3Request } from '../../src/audit/s3-client.js';
import { createSequencer } from '../../src/audit/sequencer.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { readWitness } from '../../src/audit/witness.js';
import { downloadS3Witness, readS3Witness } from '../../src/audit/witness-s3-reader.js';
import { createS3Witness, headsKey, s3WitnessSettings, type S3WitnessSettings } from '../../src/audit/witness-s3.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { tempDir } from '../support/temp-dir.js';
import { startS3Fake, type S3Fake } from './fakes/s3-fake.js';
import { ctxFor } from './support.js';

let fake: S3Fake;
before(async () => {
  fake = await startS3Fake();
});
after(() => fake.close());

const tmp = () => tempDir('haven-s3w-');

function settingsFor(f: S3Fake, over: Partial<S3WitnessSettings> = {}): S3WitnessSettings {
  const config = loadConfig({
    HAVEN_ENV: 'test',
    HAVEN_DATA_DIR: tmp(),
    HAVEN_AUDIT_WITNESS_S3_URL: f.url,
    HAVEN_AUDIT_WITNESS_S3_BUCKET: f.bucket,
    HAVEN_AUDIT_WITNESS_S3_REGION: f.region,
    HAVEN_AUDIT_WITNESS_S3_ACCESS_KEY_ID: f.accessKeyId,
    HAVEN_AUDIT_WITNESS_S3_SECRET_ACCESS_KEY: f.secretAccessKey,
    HAVEN_AUDIT_WITNESS_S3_RETENTION_DAYS: '30',
    HAVEN_AUDIT_WITNESS_S3_PREFIX: `t-${Math.random().toString(36).slice(2)}`,
  });
  return { ...s3WitnessSettings(config.audit)!, intervalMs: 0, ...over };
}

async function setup(settings: S3WitnessSettings, db?: TestDb) {
  const testDb = db ?? (await createTestDb());
  const witnessPath = join(tmp(), 'witness.jsonl');
  const s3 = createS3Witness(settings, silentLogger);
  const seq = createSequencer({ db: testDb.db, clock: systemClock, logger: silentLogger, witnessPath, intervalMs: 50, s3Witness: s3 });
  const recorder = createAuditRecorder({ db: testDb.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000 });
  let i = 0;
  const round = async (n: number) => {
    for (let k = 0; k < n; k++) await recorder.record(ctxFor(i++), [{ action: 'read', outcome: 'success', resources: [] }]);
    await seq.drain();
  };
  return { testDb, witnessPath, s3, seq, round };
}

const dbSizes = async (db: TestDb) => (await db.db.query<{ s: string }>('SELECT tree_size AS s FROM audit_tree_head ORDER BY tree_size')).rows.map((r) => Number(r.s));

test('S3 fake contract: SigV4 checked, COMPLIANCE lock honoured, create-only PUT', async () => {
  const s = settingsFor(fake);
  const key = `${s.prefix}/contract.txt`;
  const wrong = { ...s, credentials: { ...s.credentials, secretAccessKey: 'not-the-secret' } };
  await assert.rejects(putLocked(wrong, key, 'x', new Date(Date.now() + 86_400_000)), /403 SignatureDoesNotMatch/);
  assert.equal(await putLocked(s, key, 'head', new Date(Date.now() + 86_400_000)), true);
  const v = fake.objects.get(key)!;
  assert.equal(v.length, 1);
  assert.equal(v[0]!.lockMode, 'COMPLIANCE');
  assert.equal(await putLocked(s, key, 'other', new Date(Date.now() + 86_400_000)), false, 'create-only: 412, nothing replaced');
  const delVersion = await s3Request(s, 'DELETE', objectUrl(s, key, `versionId=${v[0]!.versionId}`));
  assert.equal(delVersion.status, 403);
  assert.match(delVersion.body, /AccessDenied/);
  const shorten = await s3Request(s, 'PUT', objectUrl(s, key, 'retention='), '<Retention><Mode>COMPLIANCE</Mode></Retention>');
  assert.equal(shorten.status, 403);
  assert.equal(fake.objects.get(key)!.length, 1);
});

test('heads are published to the bucket under Object Lock and read back for verification', async () => {
  const s = settingsFor(fake);
  const t = await setup(s);
  try {
    await t.round(3);
    await t.round(2);
    await t.round(4);
    const sizes = await dbSizes(t.testDb);
    assert.deepEqual(sizes, [3, 5, 9]);
    const read = await readS3Witness(s);
    assert.deepEqual(read.problems, []);
    assert.deepEqual(read.records, readWitness(t.witnessPath).records, 'the bucket holds exactly what the witness file holds');
    const obj = fake.objects.get(headsKey(s, 9))![0]!;
    const days = (obj.retainUntil!.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `retention ${days} days`);
    const path = join(tmp(), 'from-s3.jsonl');
    await downloadS3Witness(s, path);
    const report = await verifyAuditLog(t.testDb.db, { witnessPath: path });
    assert.deepEqual(report.problems, []);
    assert.deepEqual(t.seq.witnessStatus(), { published: 9, failures: {}, consecutiveFailures: 0, healthy: true });
  } finally {
    await t.seq.stop();
    await t.testDb.drop();
  }
});

test('a failing bucket is visible by error code and readiness, stops nothing, and loses no head', async () => {
  const s = settingsFor(fake);
  const t = await setup(s);
  try {
    await t.round(2);
    fake.failNext(3, 403, 'AccessDenied');
    await t.round(1);
    await t.round(1);
    await t.round(1);
    const down = t.seq.witnessStatus()!;
    assert.deepEqual(down.failures, { AccessDenied: 3 });
    assert.equal(down.healthy, false);
    assert.equal(down.published, 2);
    assert.deepEqual(await dbSizes(t.testDb), [2, 3, 4, 5], 'sequencing went on');
    await t.round(1);
    const up = t.seq.witnessStatus()!;
    assert.equal(up.healthy, true);
    assert.equal(up.published, 6);
    assert.deepEqual((await readS3Witness(s)).records.map((r) => r.treeSize), [2, 3, 4, 5, 6], 'the heads of the failed rounds were published on recovery');
  } finally {
    await t.seq.stop();
    await t.testDb.drop();
  }
});

test('a restarted node resumes from the published size; a rewrite attempt is reported and the locked original used', async () => {
  const s = settingsFor(fake);
  const t = await setup(s);
  await t.round(2);
  await t.seq.stop();
  const objectsBefore = fake.log.filter((l) => l.method === 'PUT' && l.status === 200).length;
  const again = await setup(s, t.testDb);
  try {
    await again.round(2);
    const puts = fake.log.filter((l) => l.method === 'PUT').slice(-1);
    assert.equal(fake.log.filter((l) => l.method === 'PUT' && l.status === 200).length, objectsBefore + 1);
    assert.equal(puts[0]!.status, 200, 'no re-upload of what the bucket already holds');
    // Someone with the bucket's credentials writes a forged version over a head and hides another.
    const forged = { treeSize: 2, rootHash: Buffer.alloc(32).toString('base64'), timestampMs: 1, keyId: 'x', signature: 'AA==', publicKey: 'AA==' };
    assert.equal((await s3Request(s, 'PUT', objectUrl(s, headsKey(s, 2)), `${JSON.stringify(forged)}\n`)).status, 200);
    assert.equal((await s3Request(s, 'DELETE', objectUrl(s, headsKey(s, 4)))).status, 204);
    fake.maxKeys = 1; // and every listing page holds one version
    const read = await readS3Witness(s);
    assert.equal(read.problems.length, 2, read.problems.join('\n'));
    assert.deepEqual(read.records.map((r) => r.treeSize), [2, 4]);
    assert.deepEqual(read.records, readWitness(again.witnessPath).records);
  } finally {
    fake.maxKeys = 1000;
    await again.seq.stop();
    await t.testDb.drop();
  }
});

test('S3 witness settings: all or nothing', () => {
  assert.throws(() => loadConfig({ HAVEN_ENV: 'test', HAVEN_DATA_DIR: tmp(), HAVEN_AUDIT_WITNESS_S3_URL: 'https://s3.example.com' }), /HAVEN_AUDIT_WITNESS_S3_BUCKET/);
  assert.equal(s3WitnessSettings(loadConfig({ HAVEN_ENV: 'test', HAVEN_DATA_DIR: tmp() }).audit), undefined);
});
