import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { unpackWrapped } from '../../src/crypto/cloud-wrapped.js';
import { createVaultTransitKms, dekContext, type VaultTransitOptions } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { startVaultTransitFake, type VaultTransitFake } from './fakes/vault-transit-fake.js';
import { kmsContract } from './kms-contract.js';

const http = { timeoutMs: 1000, retries: 2, backoffMs: 10 };
const options = (fake: VaultTransitFake, keyName: string, token = fake.token): VaultTransitOptions => ({ address: fake.url, token, keyName, logger: silentLogger, http });

kmsContract('HashiCorp Vault Transit (local fake of /v1/transit)', async () => {
  const fake = await startVaultTransitFake();
  fake.createKey('haven-kek');
  return {
    provider: 'vault-transit',
    kekId: /^vault-transit:transit\/haven-kek:v\d+$/,
    open: () => createVaultTransitKms(options(fake, 'haven-kek')),
    kekOf: (w) => {
      const { keyRef, blob } = unpackWrapped('Vault Transit', 0x56, w);
      return `vault-transit:${keyRef}:v${/^vault:v(\d+):/.exec(blob.toString('utf8'))?.[1] ?? '?'}`;
    },
    fake,
    http,
    throttle: { status: 429, json: { errors: ['request path "transit/encrypt/haven-kek": rate limit quota exceeded'] } },
    badCredentials: () => createVaultTransitKms(options(fake, 'haven-kek', 'hvs.wrong')),
    close: () => fake.close(),
  };
});

let fake: VaultTransitFake;
before(async () => {
  fake = await startVaultTransitFake();
});
after(() => fake.close());

test('Vault Transit: derived keys get the context too, and it binds', async () => {
  fake.createKey('derived', { derived: true });
  const kms = await createVaultTransitKms(options(fake, 'derived'));
  const dek = randomBytes(32);
  const wrapped = await kms.wrap(dek, dekContext('a', 'resources'));
  assert.deepEqual(await kms.unwrap(wrapped, dekContext('a', 'resources')), dek);
  await assert.rejects(kms.unwrap(wrapped, dekContext('b', 'resources')), (e: unknown) => e instanceof HavenError && e.code === 'KMS_UNWRAP_FAILED');
});

test('Vault Transit: versions below min_decryption_version are KMS_KEK_NOT_FOUND; non-AEAD keys are refused at start', async () => {
  fake.createKey('trimmed');
  const kms = await createVaultTransitKms(options(fake, 'trimmed'));
  const context = dekContext('t', 'resources');
  const old = await kms.wrap(randomBytes(32), context);
  const r = await kms.beginRotation();
  await r.commit();
  fake.setMinDecryptionVersion('trimmed', 2);
  await assert.rejects(kms.unwrap(old, context), (e: unknown) => e instanceof HavenError && e.code === 'KMS_KEK_NOT_FOUND' && /min_decryption_version/.test(e.message));
  assert.equal((await kms.unwrap(await kms.wrap(randomBytes(32), context), context)).length, 32);

  fake.createKey('rsa', { type: 'rsa-2048' });
  await assert.rejects(createVaultTransitKms(options(fake, 'rsa')), (e: unknown) => e instanceof HavenError && e.code === 'KMS_CONFIG_INVALID' && /AEAD/.test(e.message));
});
