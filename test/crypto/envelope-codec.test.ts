import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnvelopeCodec, createKeyring, createLocalKms, ENVELOPE_OVERHEAD, NOT_CACHED, type Kms } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { decodeRow } from '../../src/store/read.js';
import { createTestDb, type TestDb } from '../support/db.js';

let t: TestDb;
let dataDir: string;
let kms: Kms;
before(async () => {
  t = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-crypto-'));
  kms = createLocalKms({ dataDir, env: 'test', logger: silentLogger });
});
after(async () => {
  await kms.close();
  await t.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const row = (id: string, versionId = 1, tenant = 'default') => ({ tenant, resourceType: 'Patient', id, versionId });
const json = JSON.stringify({ resourceType: 'Patient', id: 'p1', name: [{ family: 'Zyxwquartz' }] });

function rejectsWith(code: string) {
  return (err: unknown) => {
    assert.ok(err instanceof HavenError, `expected HavenError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.doesNotMatch(err.message, /Zyxwquartz/); // never echo content
    return true;
  };
}

test('round trip; ciphertext holds no plaintext and every encryption uses a fresh nonce', async () => {
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  const a = await codec.encode(row('p1'), json);
  const b = await codec.encode(row('p1'), json);
  assert.equal(a.length, Buffer.byteLength(json) + ENVELOPE_OVERHEAD);
  assert.equal(a[0], 0x01);
  assert.ok(!a.includes(Buffer.from('Zyxwquartz')));
  assert.notDeepEqual(a.subarray(6, 18), b.subarray(6, 18), 'nonces must differ');
  assert.equal(await codec.decode(row('p1'), a), json);
  assert.equal(await codec.decode(row('p1'), b), json);
});

test('ciphertext moved to another row, version or tenant does not decrypt', async () => {
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  const bytes = await codec.encode(row('p1', 1), json);
  await assert.rejects(Promise.resolve(codec.decode(row('p2', 1), bytes)), rejectsWith('CRYPTO_DECRYPT_FAILED'));
  await assert.rejects(Promise.resolve(codec.decode(row('p1', 2), bytes)), rejectsWith('CRYPTO_DECRYPT_FAILED'));
  await assert.rejects(Promise.resolve(codec.decode({ ...row('p1'), resourceType: 'Observation' }, bytes)), rejectsWith('CRYPTO_DECRYPT_FAILED'));
  // Another tenant has another DEK: its version 1 is a different key.
  await codec.encode(row('x', 1, 'other'), '{}');
  await assert.rejects(Promise.resolve(codec.decode(row('p1', 1, 'other'), bytes)), rejectsWith('CRYPTO_DECRYPT_FAILED'));
});

test('flipped bits anywhere and truncation are refused, never returned', async () => {
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  const bytes = await codec.encode(row('p1'), json);
  for (const i of [6, 10, 20, bytes.length - 20, bytes.length - 1]) {
    const bad = Buffer.from(bytes);
    bad[i]! ^= 0x01;
    await assert.rejects(Promise.resolve(codec.decode(row('p1'), bad)), rejectsWith('CRYPTO_DECRYPT_FAILED'));
  }
  await assert.rejects(Promise.resolve(codec.decode(row('p1'), bytes.subarray(0, bytes.length - 1))), rejectsWith('CRYPTO_DECRYPT_FAILED'));
  await assert.rejects(Promise.resolve(codec.decode(row('p1'), bytes.subarray(0, 20))), rejectsWith('CRYPTO_CIPHERTEXT_INVALID'));
  await assert.rejects(Promise.resolve(codec.decode(row('p1'), Buffer.from(json))), rejectsWith('CRYPTO_CIPHERTEXT_INVALID'));
  const otherVersion = Buffer.from(bytes);
  otherVersion.writeUInt32BE(99, 2); // names a key version that does not exist
  await assert.rejects(Promise.resolve(codec.decode(row('p1'), otherVersion)), rejectsWith('CRYPTO_KEY_NOT_FOUND'));
});

test('DEKs: one per tenant and purpose, stored only wrapped, created once under concurrency', async () => {
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  const other = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) }); // a second node
  await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? codec : other).encode(row(`c${i}`, 1, 'race'), json)));
  const res = await t.db.query<{ version: number; status: string; kek_id: string; wrapped: Buffer }>(
    "SELECT version, status, kek_id, wrapped FROM data_key WHERE tenant_id = 'race'",
  );
  assert.equal(res.rows.length, 1);
  assert.equal(res.rows[0]!.status, 'active');
  assert.equal(res.rows[0]!.kek_id, kms.describe().kekId);
  assert.equal(res.rows[0]!.wrapped.length, 1 + 8 + 12 + 32 + 16);
});

test('cached DEKs expire after their lifetime and are zeroed on eviction', async () => {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const clock = { now: () => new Date(now) };
  let unwraps = 0;
  const counting: Kms = { ...kms, unwrap: async (w, c) => (unwraps++, kms.unwrap(w, c)) };
  const keyring = createKeyring({ db: t.db, kms: counting, clock, ttlMs: 60_000, maxEntries: 2 });
  const codec = createEnvelopeCodec({ keyring });
  const bytes = await codec.encode(row('p1'), json);
  let seen: Buffer | undefined;
  await keyring.withActiveKey('default', 'resources', (key) => (seen = key));
  assert.ok(seen && seen.some((b) => b !== 0));
  const before = unwraps;
  await codec.decode(row('p1'), bytes);
  assert.equal(unwraps, before, 'cached key reused');
  now += 61_000;
  await codec.decode(row('p1'), bytes);
  assert.equal(unwraps, before + 1, 'expired key unwrapped again');
  assert.ok(seen.every((b) => b === 0), 'evicted key buffer zeroed');
  // Bounded size: a third key evicts the oldest.
  await codec.encode(row('a', 1, 't2'), '{}');
  await codec.encode(row('a', 1, 't3'), '{}');
  assert.equal(keyring.cachedCount(), 2);
  await keyring.close();
  assert.equal(keyring.cachedCount(), 0);
});

test('a KMS outage surfaces as a retryable KMS_UNAVAILABLE (503), not as data', async () => {
  const writer = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  const bytes = await writer.encode(row('p9', 1, 'outage'), json);
  const down: Kms = {
    ...kms,
    unwrap: async () => {
      throw new HavenError('unavailable', 'KMS_UNAVAILABLE', 'HSM (PKCS#11) unwrap failed: CKR_DEVICE_ERROR');
    },
  };
  const reader = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms: down }) });
  await assert.rejects(Promise.resolve(reader.decode(row('p9', 1, 'outage'), bytes)), (e: unknown) => e instanceof HavenError && e.category === 'unavailable' && e.code === 'KMS_UNAVAILABLE');
});

test('cached keys are handed over synchronously (tryWith…), and only while their status was confirmed within refreshMs', async () => {
  let now = Date.parse('2030-01-01T00:00:00Z');
  const clock = { now: () => new Date(now) };
  const keyring = createKeyring({ db: t.db, kms, clock, ttlMs: 60_000, refreshMs: 5_000 });
  const codec = createEnvelopeCodec({ keyring });
  const ref = { tenant: 'sync', purpose: 'resources' as const, version: 1 };
  assert.equal(keyring.tryWithActiveKey('sync', 'resources', () => 'used'), NOT_CACHED, 'nothing loaded yet');
  assert.equal(keyring.tryWithKey(ref, () => 'used'), NOT_CACHED);
  const bytes = await codec.encode(row('s1', 1, 'sync'), json);
  let seen: Buffer | undefined;
  assert.equal(keyring.tryWithActiveKey('sync', 'resources', (key, r) => ((seen = key), r.version)), 1);
  assert.equal(keyring.tryWithKey(ref, (key) => key === seen), true, 'the same cached key by version');
  assert.equal(keyring.tryWithKey({ ...ref, version: 2 }, () => 'used'), NOT_CACHED, 'a version never loaded');
  // A read with the key in memory decodes at once: a string, not a promise; so does the store's row decode.
  assert.equal(codec.decode(row('s1', 1, 'sync'), bytes), json);
  const stored = decodeRow('sync', { resource_type: 'Patient', id: 's1', version_id: '1', last_updated: new Date(0), deleted: false, content: bytes }, codec);
  assert.ok(!(stored instanceof Promise));
  assert.equal(stored.json, json);
  // Failures still reject (never a synchronous throw), with the key cached too.
  const moved = codec.decode(row('s2', 1, 'sync'), bytes);
  assert.ok(moved instanceof Promise);
  await assert.rejects(moved, rejectsWith('CRYPTO_DECRYPT_FAILED'));
  // Due for a status re-check: no synchronous hand-over until withKey/withActiveKey confirmed it in the database.
  now += 5_000;
  assert.equal(keyring.tryWithActiveKey('sync', 'resources', () => 'used'), NOT_CACHED);
  assert.equal(keyring.tryWithKey(ref, () => 'used'), NOT_CACHED);
  const decoding = codec.decode(row('s1', 1, 'sync'), bytes);
  assert.ok(decoding instanceof Promise, 'the re-check goes through the database');
  assert.equal(await decoding, json);
  assert.equal(keyring.tryWithKey(ref, (key) => key === seen), true, 're-confirmed, same key (no second unwrap)');
  await keyring.withActiveKey('sync', 'resources', () => undefined);
  assert.equal(keyring.tryWithActiveKey('sync', 'resources', (key) => key === seen), true);
  // Expired: evicted and zeroed, then unwrapped anew; the synchronous path hands over the new buffer, never the zeroed one.
  now += 61_000;
  assert.equal(keyring.tryWithKey(ref, () => 'used'), NOT_CACHED);
  assert.ok(seen!.every((b) => b === 0), 'evicted key zeroed');
  assert.equal(await codec.decode(row('s1', 1, 'sync'), bytes), json);
  await keyring.withActiveKey('sync', 'resources', () => undefined);
  assert.equal(keyring.tryWithActiveKey('sync', 'resources', (key) => key !== seen && key.some((b) => b !== 0)), true);
  assert.equal(keyring.tryWithKey(ref, (key) => key.some((b) => b !== 0)), true);
  keyring.clear();
  assert.equal(keyring.tryWithActiveKey('sync', 'resources', () => 'used'), NOT_CACHED, 'cleared');
  await keyring.close();
});
