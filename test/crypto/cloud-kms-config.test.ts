import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { createEnvelopeCodec, createKeyring, createKmsFromConfig, rotateKek } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startAwsKmsFake, type AwsKmsFake } from './fakes/aws-kms-fake.js';
import { startAzureKeyVaultFake, type AzureKeyVaultFake } from './fakes/azure-keyvault-fake.js';
import { startGcpKmsFake, type GcpKmsFake } from './fakes/gcp-kms-fake.js';
import { startVaultTransitFake, type VaultTransitFake } from './fakes/vault-transit-fake.js';

// HAVEN_KMS=<cloud provider> from the environment to `haven keys rotate --kek`, through the real
// configuration loader, keyring, envelope codec and PostgreSQL, against the local fakes.
let t: TestDb;
let dir: string;
let aws: AwsKmsFake;
let gcp: GcpKmsFake;
let azure: AzureKeyVaultFake;
let vault: VaultTransitFake;
const common = { HAVEN_KMS_TIMEOUT_MS: '10000', HAVEN_KMS_RETRIES: '1' };
const envs: Record<string, () => Record<string, string>> = {};

before(async () => {
  t = await createTestDb();
  dir = mkdtempSync(join(tmpdir(), 'haven-cloud-kms-'));
  [aws, gcp, azure, vault] = await Promise.all([startAwsKmsFake(), startGcpKmsFake(), startAzureKeyVaultFake(), startVaultTransitFake()]);
  const saFile = join(dir, 'sa.json');
  writeFileSync(saFile, JSON.stringify({ type: 'service_account', ...gcp.serviceAccount }), { mode: 0o600 });
  vault.createKey('haven-kek');
  const awsKey = aws.createKey('alias/haven');
  const awsNext = aws.createKey();
  envs['aws-kms'] = () => ({ HAVEN_KMS: 'aws-kms', HAVEN_KMS_AWS_KEY_ID: awsKey, HAVEN_KMS_AWS_KEY_ID_NEXT: awsNext, AWS_REGION: aws.region, HAVEN_KMS_AWS_ENDPOINT: aws.url, AWS_ACCESS_KEY_ID: aws.accessKeyId, AWS_SECRET_ACCESS_KEY: aws.secretAccessKey });
  envs['gcp-kms'] = () => ({ HAVEN_KMS: 'gcp-kms', HAVEN_KMS_GCP_KEY: gcp.keyName, HAVEN_KMS_GCP_ENDPOINT: gcp.url, GOOGLE_APPLICATION_CREDENTIALS: saFile });
  envs['azure-keyvault'] = () => ({ HAVEN_KMS: 'azure-keyvault', HAVEN_KMS_AZURE_VAULT_URL: azure.url, HAVEN_KMS_AZURE_KEY_NAME: azure.keyName, HAVEN_KMS_AZURE_AUTHORITY: azure.url, AZURE_TENANT_ID: azure.tenantId, AZURE_CLIENT_ID: azure.clientId, AZURE_CLIENT_SECRET: azure.clientSecret });
  envs['vault-transit'] = () => ({ HAVEN_KMS: 'vault-transit', HAVEN_KMS_VAULT_KEY: 'haven-kek', VAULT_ADDR: vault.url, VAULT_TOKEN: vault.token });
});
after(async () => {
  await Promise.all([aws, gcp, azure, vault].map((f) => f?.close()));
  await t?.drop();
  rmSync(dir, { recursive: true, force: true });
});

for (const provider of ['aws-kms', 'gcp-kms', 'azure-keyvault', 'vault-transit']) {
  test(`${provider}: configured from the environment; resources encrypt; KEK rotation re-wraps every DEK`, async () => {
    const env = { ...common, ...envs[provider]!() };
    // One database belongs to one KMS: rotation re-wraps every DEK, so start from none.
    await t.db.query('DELETE FROM data_key');
    const kms = await createKmsFromConfig(loadConfig(env), silentLogger, env);
    try {
      assert.equal(kms.describe().provider, provider);
      const keyring = createKeyring({ db: t.db, kms });
      const codec = createEnvelopeCodec({ keyring });
      const tenant = `t-${provider}`;
      const identity = { tenant, resourceType: 'Patient', id: 'p1', versionId: 1 };
      const json = '{"resourceType":"Patient","id":"p1","name":[{"family":"Canary"}]}';
      const bytes = await codec.encode(identity, json);
      assert.ok(!bytes.includes(Buffer.from('Canary')));
      const from = kms.describe().kekId;
      const result = await rotateKek({ db: t.db, kms, logger: silentLogger });
      assert.equal(result.from, from);
      assert.notEqual(result.to, from);
      assert.ok(result.rewrapped >= 1);
      const rows = (await t.db.query<{ kek_id: string }>('SELECT kek_id FROM data_key WHERE tenant_id = $1', [tenant])).rows;
      assert.ok(rows.length >= 1 && rows.every((r) => r.kek_id === result.to));
      keyring.clear(); // unwrap again, under the new KEK
      assert.equal(await codec.decode(identity, bytes), json);
    } finally {
      await kms.close();
    }
  });
}

test('cloud KMS settings: the key is required by the schema; missing vendor credentials are named', async () => {
  assert.throws(() => loadConfig({ HAVEN_KMS: 'aws-kms' }), /HAVEN_KMS_AWS_KEY_ID: required when HAVEN_KMS=aws-kms/);
  assert.throws(() => loadConfig({ HAVEN_KMS: 'azure-keyvault' }), (e: unknown) => e instanceof HavenError && /HAVEN_KMS_AZURE_VAULT_URL/.test(e.message) && /HAVEN_KMS_AZURE_KEY_NAME/.test(e.message));
  assert.throws(() => loadConfig({ HAVEN_KMS: 'gcp-kms' }), /HAVEN_KMS_GCP_KEY/);
  assert.throws(() => loadConfig({ HAVEN_KMS: 'vault-transit' }), /HAVEN_KMS_VAULT_KEY/);
  const env = { HAVEN_KMS: 'aws-kms', HAVEN_KMS_AWS_KEY_ID: 'alias/x', AWS_REGION: 'eu-west-1' };
  await assert.rejects(createKmsFromConfig(loadConfig(env), silentLogger, env), (e: unknown) => e instanceof HavenError && e.code === 'KMS_CONFIG_INVALID' && /AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY/.test(e.message));
  const vaultEnv = { HAVEN_KMS: 'vault-transit', HAVEN_KMS_VAULT_KEY: 'k' };
  await assert.rejects(createKmsFromConfig(loadConfig(vaultEnv), silentLogger, vaultEnv), /VAULT_ADDR, VAULT_TOKEN/);
  const gcpEnv = { HAVEN_KMS: 'gcp-kms', HAVEN_KMS_GCP_KEY: gcp.keyName, HAVEN_KMS_GCP_CREDENTIALS: join(dir, 'missing.json') };
  await assert.rejects(createKmsFromConfig(loadConfig(gcpEnv), silentLogger, gcpEnv), /cannot be read: ENOENT/);
});
