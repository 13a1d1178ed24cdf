import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { createLocalKms, dekContext } from '../../src/crypto/index.js';
import { HavenError, silentLogger, type Logger } from '../../src/kernel/index.js';

function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof HavenError && err.code === 'CONFIG_INVALID');
    return err.message;
  }
  return assert.fail('expected CONFIG_INVALID');
}

test('config: local KMS by default, encryption on; pkcs11 settings read from HAVEN_PKCS11_*', () => {
  const c = loadConfig({});
  assert.equal(c.kms.provider, 'local');
  assert.equal(c.kms.encryption, 'on');
  const p = loadConfig({ HAVEN_KMS: 'pkcs11', HAVEN_PKCS11_LIBRARY: '/lib/x.so', HAVEN_PKCS11_TOKEN_LABEL: 't', HAVEN_PKCS11_PIN: '1', HAVEN_PKCS11_KEK_LABEL: 'k' });
  assert.deepEqual(p.kms.pkcs11, { library: '/lib/x.so', tokenLabel: 't', pin: '1', kekLabel: 'k' });
  assert.equal(loadConfig({ HAVEN_ENV: 'test', HAVEN_ENCRYPTION: 'off' }).kms.encryption, 'off');
});

test('config: refuses encryption off outside test, local KMS in production, incomplete pkcs11', () => {
  assert.match(configError({ HAVEN_ENCRYPTION: 'off' }), /HAVEN_ENCRYPTION: 'off' is accepted only when HAVEN_ENV=test/);
  assert.match(configError({ HAVEN_ENV: 'production', HAVEN_ENCRYPTION: 'off' }), /HAVEN_ENCRYPTION/);
  assert.match(configError({ HAVEN_ENV: 'production' }), /HAVEN_KMS: 'local'.*refused/);
  const m = configError({ HAVEN_KMS: 'pkcs11' });
  for (const v of ['HAVEN_PKCS11_LIBRARY', 'HAVEN_PKCS11_PIN', 'HAVEN_PKCS11_TOKEN_LABEL']) assert.match(m, new RegExp(v));
  assert.match(configError({ HAVEN_KMS: 'aws' }), /HAVEN_KMS/);
});

test('config: harness variables are not settings and are not refused', () => {
  assert.doesNotThrow(() => loadConfig({ HAVEN_REQUIRE_SOFTHSM: '1' }));
});

test('local KMS: key file created 0600 with a loud warning; refused in production; loose permissions refused', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-kek-'));
  try {
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (_o, msg) => void warnings.push(msg ?? ''), child: () => logger };
    const kms = createLocalKms({ dataDir, env: 'development', logger });
    assert.match(kms.describe().kekId, /^local:[0-9a-f]{16}$/);
    const file = join(dataDir, 'keys', 'kek.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(file).size, 32);
    assert.match(warnings.join('\n'), /LOCAL KEY FILE IN USE.*A new KEK was created/);
    const dek = Buffer.alloc(32, 7);
    const context = dekContext('default', 'resources');
    const wrapped = await kms.wrap(dek, context);
    assert.deepEqual(await kms.unwrap(wrapped, context), dek);
    const bad = Buffer.from(wrapped);
    bad[20]! ^= 1;
    await assert.rejects(kms.unwrap(bad, context), (e: unknown) => e instanceof HavenError && e.code === 'KMS_UNWRAP_FAILED');
    // A wrapped DEK moved to another tenant's or purpose's row does not unwrap there.
    for (const other of [dekContext('other', 'resources'), dekContext('default', 'audit')]) {
      await assert.rejects(kms.unwrap(wrapped, other), (e: unknown) => e instanceof HavenError && e.code === 'KMS_UNWRAP_FAILED');
    }
    await kms.close();

    assert.throws(() => createLocalKms({ dataDir, env: 'production', logger }), (e: unknown) => e instanceof HavenError && e.code === 'KMS_CONFIG_INVALID');
    chmodSync(file, 0o644);
    assert.throws(() => createLocalKms({ dataDir, env: 'test', logger }).describe(), /chmod 600/);
    chmodSync(file, 0o600);
    writeFileSync(file, Buffer.alloc(16));
    assert.throws(() => createLocalKms({ dataDir, env: 'test', logger }).describe(), /exactly 32 bytes/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
