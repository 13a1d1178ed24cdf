import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { unpackWrapped } from '../../src/crypto/cloud-wrapped.js';
import { createAwsKms, dekContext, type AwsKmsOptions } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { startAwsKmsFake, type AwsKmsFake } from './fakes/aws-kms-fake.js';
import { kmsContract } from './kms-contract.js';

const http = { timeoutMs: 1000, retries: 2, backoffMs: 10 };
const ref = (w: Buffer) => unpackWrapped('AWS KMS', 0x41, w).keyRef;

function options(fake: AwsKmsFake, keyId: string, extra: Partial<AwsKmsOptions> = {}): AwsKmsOptions {
  return { keyId, region: fake.region, endpoint: fake.url, credentials: { accessKeyId: fake.accessKeyId, secretAccessKey: fake.secretAccessKey }, logger: silentLogger, http, ...extra };
}

kmsContract('AWS KMS (local fake of the TrentService JSON API)', async () => {
  const fake = await startAwsKmsFake();
  let current = fake.createKey('alias/haven-kek');
  let next = fake.createKey();
  return {
    provider: 'aws-kms',
    kekId: /^aws-kms:arn:aws:kms:eu-west-1:\d{12}:key\/[0-9a-f-]{36}$/,
    open: () => createAwsKms(options(fake, current, { nextKeyId: next })),
    kekOf: (w) => `aws-kms:${ref(w)}`,
    afterRotation(kekId) {
      // The operator moves HAVEN_KMS_AWS_KEY_ID to the new key (and names another next one for a later rotation).
      current = kekId.slice('aws-kms:'.length);
      next = fake.createKey();
    },
    fake,
    http,
    throttle: { status: 400, json: { __type: 'ThrottlingException', message: 'Rate exceeded' } },
    badCredentials: () => createAwsKms(options(fake, current, { credentials: { accessKeyId: fake.accessKeyId, secretAccessKey: 'wrong' } })),
    close: () => fake.close(),
  };
});

let fake: AwsKmsFake;
before(async () => {
  fake = await startAwsKmsFake();
});
after(() => fake.close());

test('AWS KMS: an alias resolves to the key ARN, which the wrapped DEK names; the context is the EncryptionContext', async () => {
  const arn = fake.createKey('alias/by-alias');
  const kms = await createAwsKms(options(fake, 'alias/by-alias'));
  assert.equal(kms.describe().kekId, `aws-kms:${arn}`);
  const context = dekContext('t1', 'resources');
  const wrapped = await kms.wrap(randomBytes(32), context);
  assert.equal(ref(wrapped), arn);
  await assert.rejects(kms.unwrap(wrapped, dekContext('t2', 'resources')), (e: unknown) => e instanceof HavenError && e.code === 'KMS_UNWRAP_FAILED');
});

test('AWS KMS: without a next key, rotation re-wraps under the same key after AWS rotated its material', async () => {
  const arn = fake.createKey();
  const kms = await createAwsKms(options(fake, arn));
  const context = dekContext('default', 'audit');
  const dek = randomBytes(32);
  const old = await kms.wrap(dek, context);
  fake.rotateMaterial(arn);
  const rotation = await kms.beginRotation();
  assert.equal(rotation.kekId, `aws-kms:${arn}`, 'same key id: AWS keeps the id and finds old material itself');
  const rewrapped = await rotation.wrap(dek, context);
  await rotation.commit();
  const blobGeneration = (w: Buffer) => unpackWrapped('AWS KMS', 0x41, w).blob[36];
  assert.equal(blobGeneration(old), 0);
  assert.equal(blobGeneration(rewrapped), 1, 'the fake encrypted under the new material');
  assert.deepEqual(await kms.unwrap(old, context), dek);
  assert.deepEqual(await kms.unwrap(rewrapped, context), dek);
});

test('AWS KMS: an unknown key or an unknown access key fails the start with a clear code', async () => {
  await assert.rejects(createAwsKms(options(fake, 'alias/missing')), (e: unknown) => e instanceof HavenError && e.code === 'KMS_KEK_NOT_FOUND');
  const denied = createAwsKms(options(fake, fake.createKey(), { credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' } }));
  await assert.rejects(denied, (e: unknown) => e instanceof HavenError && e.code === 'KMS_ACCESS_DENIED' && /UnrecognizedClientException/.test(e.message) && !e.message.includes('x-amz'));
});
