import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { unpackWrapped } from '../../src/crypto/cloud-wrapped.js';
import { createAzureKeyVaultKms, dekContext, type AzureKeyVaultOptions } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { startAzureKeyVaultFake, type AzureKeyVaultFake } from './fakes/azure-keyvault-fake.js';
import { kmsContract } from './kms-contract.js';

const http = { timeoutMs: 1000, retries: 2, backoffMs: 10 };

function options(fake: AzureKeyVaultFake, secret = fake.clientSecret): AzureKeyVaultOptions {
  return { vaultUrl: fake.url, keyName: fake.keyName, credentials: { authority: fake.url, tenantId: fake.tenantId, clientId: fake.clientId, clientSecret: secret }, logger: silentLogger, http };
}

kmsContract('Azure Key Vault (local fake of keys REST 7.4 + client-credentials token)', async () => {
  const fake = await startAzureKeyVaultFake();
  return {
    provider: 'azure-keyvault',
    kekId: /^azure-keyvault:http:\/\/127\.0\.0\.1:\d+\/keys\/haven-kek\/[0-9a-f]{32}$/,
    open: () => createAzureKeyVaultKms(options(fake)),
    kekOf: (w) => `azure-keyvault:${unpackWrapped('Azure Key Vault', 0x5a, w).keyRef}`,
    fake,
    http,
    throttle: { status: 429, json: { error: { code: 'Throttled', message: 'Request was not processed because too many requests were received.' } }, headers: { 'Retry-After': '0' } },
    badCredentials: () => createAzureKeyVaultKms(options(fake, 'not-the-secret')),
    close: () => fake.close(),
  };
});

let fake: AzureKeyVaultFake;
before(async () => {
  fake = await startAzureKeyVaultFake();
});
after(() => fake.close());

test('Azure Key Vault: Key Vault itself unwraps a moved DEK, Haven\'s context binding still refuses it', async () => {
  const kms = await createAzureKeyVaultKms(options(fake));
  const dek = randomBytes(32);
  const wrapped = await kms.wrap(dek, dekContext('tenant-a', 'resources'));
  // Ask the vault directly: RSA-OAEP has no associated data, so it unwraps whatever it is given.
  const { keyRef, blob } = unpackWrapped('Azure Key Vault', 0x5a, wrapped);
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: fake.clientId, client_secret: fake.clientSecret, scope: 'https://vault.azure.net/.default' });
  const token = ((await (await fetch(`${fake.url}/${fake.tenantId}/oauth2/v2.0/token`, { method: 'POST', body: form })).json()) as { access_token: string }).access_token;
  const res = await fetch(`${keyRef}/unwrapkey?api-version=7.4`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ alg: 'RSA-OAEP-256', value: blob.toString('base64url') }) });
  assert.equal(res.status, 200);
  const inner = Buffer.from(((await res.json()) as { value: string }).value, 'base64url');
  assert.equal(inner.length, 64, 'DEK ‖ HMAC tag');
  assert.deepEqual(inner.subarray(0, 32), dek);
  await assert.rejects(kms.unwrap(wrapped, dekContext('tenant-b', 'resources')), (e: unknown) => e instanceof HavenError && e.code === 'KMS_UNWRAP_FAILED' && /context binding/.test(e.message));
  assert.deepEqual(await kms.unwrap(wrapped, dekContext('tenant-a', 'resources')), dek);
});

test('Azure Key Vault: a wrapped DEK naming another vault is refused before any call', async () => {
  const kms = await createAzureKeyVaultKms(options(fake));
  const wrapped = await kms.wrap(randomBytes(32), dekContext('t', 'resources'));
  const { keyRef, blob } = unpackWrapped('Azure Key Vault', 0x5a, wrapped);
  const { packWrapped } = await import('../../src/crypto/cloud-wrapped.js');
  const moved = packWrapped(0x5a, keyRef.replace('127.0.0.1', 'evil.example'), blob);
  await assert.rejects(kms.unwrap(moved, dekContext('t', 'resources')), (e: unknown) => e instanceof HavenError && e.code === 'KMS_KEK_NOT_FOUND');
});
