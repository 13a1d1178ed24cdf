import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { unpackWrapped } from '../../src/crypto/cloud-wrapped.js';
import { createGcpKms, dekContext } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { startGcpKmsFake, type GcpKmsFake } from './fakes/gcp-kms-fake.js';
import { kmsContract } from './kms-contract.js';

const http = { timeoutMs: 1000, retries: 2, backoffMs: 10 };

kmsContract('GCP Cloud KMS (local fake of REST v1)', async () => {
  const fake = await startGcpKmsFake();
  const otherKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    provider: 'gcp-kms',
    kekId: /^gcp-kms:projects\/haven-test\/locations\/europe-west1\/keyRings\/haven\/cryptoKeys\/kek\/cryptoKeyVersions\/\d+$/,
    open: () => createGcpKms({ keyName: fake.keyName, endpoint: fake.url, credentials: { serviceAccount: fake.serviceAccount }, logger: silentLogger, http }),
    kekOf: (w) => `gcp-kms:${unpackWrapped('GCP KMS', 0x47, w).keyRef}`,
    fake,
    http,
    throttle: { status: 429, json: { error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Quota exceeded' } } },
    // A service-account key file whose private key is not the one Google knows.
    badCredentials: () => createGcpKms({ keyName: fake.keyName, endpoint: fake.url, credentials: { serviceAccount: { ...fake.serviceAccount, private_key: otherKey } }, logger: silentLogger, http }),
    close: () => fake.close(),
  };
});

let fake: GcpKmsFake;
before(async () => {
  fake = await startGcpKmsFake();
});
after(() => fake.close());

test('GCP KMS: a static access token works; an invalid one is KMS_ACCESS_DENIED; the key name is validated', async () => {
  const kms = await createGcpKms({ keyName: fake.keyName, endpoint: fake.url, credentials: { accessToken: fake.issueToken() }, logger: silentLogger, http });
  const context = dekContext('t', 'blobs');
  const dek = randomBytes(32);
  assert.deepEqual(await kms.unwrap(await kms.wrap(dek, context), context), dek);
  await assert.rejects(
    createGcpKms({ keyName: fake.keyName, endpoint: fake.url, credentials: { accessToken: 'ya29.invalid' }, logger: silentLogger, http }),
    (e: unknown) => e instanceof HavenError && e.code === 'KMS_ACCESS_DENIED' && /UNAUTHENTICATED/.test(e.message) && !e.message.includes('ya29'),
  );
  await assert.rejects(createGcpKms({ keyName: 'kek', endpoint: fake.url, credentials: { accessToken: 'x' }, logger: silentLogger, http }), (e: unknown) => e instanceof HavenError && e.code === 'KMS_CONFIG_INVALID');
});
