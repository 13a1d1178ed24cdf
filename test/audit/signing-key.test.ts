import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createSequencer } from '../../src/audit/sequencer.js';
import { openSeed, seedOf, signingKeyContext, signingKeyRewrap } from '../../src/audit/signing-key-store.js';
import { keyIdOf, rawPublicKey } from '../../src/audit/tree-head.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { createLocalKms, createVaultTransitKms, rotateKek, type Kms } from '../../src/crypto/index.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { startVaultTransitFake, type VaultTransitFake } from '../crypto/fakes/vault-transit-fake.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { tempDir } from '../support/temp-dir.js';
import { ctxFor } from './support.js';
import { createAuditRecorder } from '../../src/audit/recorder.js';

let vault: VaultTransitFake;
before(async () => {
  vault = await startVaultTransitFake();
  vault.createKey('haven-kek');
});
after(() => vault.close());

const localKms = (): Kms => createLocalKms({ dataDir: tempDir('haven-audit-kms-'), env: 'test', logger: silentLogger });
const vaultKms = (): Promise<Kms> =>
  createVaultTransitKms({ address: vault.url, token: vault.token, keyName: 'haven-kek', logger: silentLogger, http: { timeoutMs: 1000, retries: 1, backoffMs: 10 } });

function sequencerOn(db: TestDb, kms: Kms | undefined) {
  const witnessPath = join(tempDir('haven-audit-'), 'witness.jsonl');
  return { witnessPath, seq: createSequencer({ db: db.db, clock: systemClock, logger: silentLogger, witnessPath, intervalMs: 50, ...(kms ? { kms } : {}) }) };
}

async function recordReads(db: TestDb, n: number): Promise<void> {
  const recorder = createAuditRecorder({ db: db.db, clock: systemClock, logger: silentLogger, node: 'test-node', timeoutMs: 2000 });
  for (let i = 0; i < n; i++) await recorder.record(ctxFor(i), [{ action: 'read', outcome: 'success', resources: [] }]);
}

/** Canary: every row of every table, as text (bytea shows as hex), must not contain the seed in any form. */
async function assertNotInDatabase(db: TestDb, seed: Buffer, label: string): Promise<void> {
  const tables = await db.db.query<{ t: string }>(`SELECT quote_ident(table_name) AS t FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
  const needles = [seed.toString('hex'), seed.toString('base64').slice(0, 40)];
  for (const { t } of tables.rows) {
    const rows = await db.db.query<{ r: string }>(`SELECT x::text AS r FROM ${t} x`);
    for (const { r } of rows.rows) for (const n of needles) assert.ok(!r.toLowerCase().includes(n.toLowerCase()), `${label}: private key bytes found in ${t}`);
  }
}

async function keyOperations(db: TestDb): Promise<string[]> {
  const res = await db.db.query<{ c: Buffer }>(`SELECT canonical AS c FROM audit_entry WHERE subject = 'haven-audit-sequencer' ORDER BY entry_id`);
  return res.rows.map((r) => (JSON.parse(r.c.toString('utf8')) as { operation?: string }).operation ?? '?');
}

for (const [name, makeKms] of [['local KMS', async () => localKms()], ['Vault Transit (local fake)', vaultKms]] as const) {
  test(`${name}: a new signing key is stored only wrapped, bound to its id, and signs verifiable heads`, async () => {
    const db = await createTestDb();
    const kms = await makeKms();
    const { seq, witnessPath } = sequencerOn(db, kms);
    try {
      await recordReads(db, 5);
      await seq.drain();
      await seq.stop();
      const row = (await db.db.query<{ key_id: string; private_key: Buffer | null; kek_id: string; wrapped: Buffer }>(
        'SELECT k.key_id, k.private_key, w.kek_id, w.wrapped FROM audit_signing_key k JOIN audit_signing_key_wrap w USING (key_id)',
      )).rows;
      assert.equal(row.length, 1);
      assert.equal(row[0]!.private_key, null, 'no plaintext column value');
      assert.equal(row[0]!.kek_id, kms.describe().kekId);
      const seed = await openSeed(kms, row[0]!.key_id, { kekId: row[0]!.kek_id, wrapped: row[0]!.wrapped });
      assert.equal(seed.length, 32);
      await assertNotInDatabase(db, seed, name);
      // The associated data binds the wrap to its key id: moved to another id it does not unwrap.
      await assert.rejects(kms.unwrap(row[0]!.wrapped, signingKeyContext('0000000000000000')));
      const report = await verifyAuditLog(db.db, { witnessPath });
      assert.deepEqual(report.problems, []);
      assert.deepEqual(await keyOperations(db), ['audit-signing-key-create', 'audit-signing-key-unwrap']);
    } finally {
      await kms.close();
      await db.drop();
    }
  });
}

test('a plaintext key from before migration 018 is wrapped and scrubbed at sequencer start, and keeps signing', async () => {
  const db = await createTestDb();
  const kms = localKms();
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicRaw = rawPublicKey(publicKey);
  const keyId = keyIdOf(publicRaw);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  try {
    // The state an upgraded installation is in: a legacy plaintext row (written before the check existed).
    await db.db.transaction(async (tx) => {
      await tx.query('ALTER TABLE audit_signing_key DROP CONSTRAINT audit_signing_key_no_plaintext');
      await tx.query('INSERT INTO audit_signing_key (key_id, public_key, private_key) VALUES ($1, $2, $3)', [keyId, publicRaw, der]);
      await tx.query('ALTER TABLE audit_signing_key ADD CONSTRAINT audit_signing_key_no_plaintext CHECK (private_key IS NULL) NOT VALID');
    });
    // The guarded path refuses scrubbing a key that has no wrapped copy, and any other change.
    await assert.rejects(db.db.query('UPDATE audit_signing_key SET private_key = NULL WHERE key_id = $1', [keyId]), /append-only/);
    await assert.rejects(db.db.query('UPDATE audit_signing_key SET public_key = $2 WHERE key_id = $1', [keyId, Buffer.alloc(32)]), /append-only|no_plaintext/);
    const { seq, witnessPath } = sequencerOn(db, kms);
    await recordReads(db, 3);
    await seq.drain();
    await seq.stop();
    const heads = await db.db.query<{ key_id: string }>('SELECT DISTINCT key_id FROM audit_tree_head');
    assert.deepEqual(heads.rows.map((r) => r.key_id), [keyId], 'the migrated key keeps signing (witness consumers keep their anchor)');
    const k = await db.db.query<{ private_key: Buffer | null }>('SELECT private_key FROM audit_signing_key WHERE key_id = $1', [keyId]);
    assert.equal(k.rows[0]!.private_key, null);
    await assertNotInDatabase(db, seedOf(privateKey), 'after migration');
    assert.deepEqual(await keyOperations(db), ['audit-signing-key-wrap', 'audit-signing-key-unwrap']);
    assert.deepEqual((await verifyAuditLog(db.db, { witnessPath })).problems, []);
    // New plaintext keys are refused outright; wrapped keys are never deleted.
    await assert.rejects(db.db.query('INSERT INTO audit_signing_key (key_id, public_key, private_key) VALUES ($1, $2, $3)', ['x', publicRaw, der]), /no_plaintext/);
    await assert.rejects(db.db.query('DELETE FROM audit_signing_key_wrap'), /refused/);
  } finally {
    await kms.close();
    await db.drop();
  }
});

test('KEK rotation re-wraps the signing key in its transaction; the key stays the same', async () => {
  const db = await createTestDb();
  const kms = localKms();
  try {
    const first = sequencerOn(db, kms);
    await recordReads(db, 2);
    await first.seq.drain();
    await first.seq.stop();
    const before = (await db.db.query<{ key_id: string; kek_id: string; wrapped: Buffer }>('SELECT key_id, kek_id, wrapped FROM audit_signing_key_wrap')).rows[0]!;
    const ids: string[] = [];
    const r = await rotateKek({ db: db.db, kms, logger: silentLogger, rewrapSecrets: signingKeyRewrap(ids) });
    assert.equal(r.secrets, 1);
    assert.deepEqual(ids, [before.key_id]);
    const afterRow = (await db.db.query<{ kek_id: string; wrapped: Buffer }>('SELECT kek_id, wrapped FROM audit_signing_key_wrap')).rows[0]!;
    assert.equal(afterRow.kek_id, r.to);
    assert.notEqual(afterRow.kek_id, before.kek_id);
    assert.ok(!afterRow.wrapped.equals(before.wrapped));
    // A fresh leader unwraps the re-wrapped key and signs on with the same key id.
    const second = sequencerOn(db, kms);
    await recordReads(db, 2);
    await second.seq.drain();
    await second.seq.stop();
    const keys = await db.db.query<{ key_id: string }>('SELECT DISTINCT key_id FROM audit_tree_head');
    assert.deepEqual(keys.rows.map((x) => x.key_id), [before.key_id]);
    assert.deepEqual((await verifyAuditLog(db.db, {})).problems, []);
  } finally {
    await kms.close();
    await db.drop();
  }
});

test('without the KMS that wrapped it the sequencer does not lead (and says why), instead of signing with a new key', async () => {
  const db = await createTestDb();
  const kms = localKms();
  try {
    const first = sequencerOn(db, kms);
    await recordReads(db, 1);
    await first.seq.drain();
    await first.seq.stop();
    const noKms = sequencerOn(db, undefined);
    await assert.rejects(noKms.seq.drain(), (err: { code?: string }) => err.code === 'AUDIT_SIGNING_KEY_UNAVAILABLE');
    assert.equal(noKms.seq.isLeader, false);
    const n = await db.db.query<{ n: string }>('SELECT count(*) AS n FROM audit_signing_key');
    assert.equal(Number(n.rows[0]!.n), 1);
  } finally {
    await kms.close();
    await db.drop();
  }
});

test('a wrapped key replaced by another one (even wrapped correctly, for this key id) is refused, not used', async () => {
  const db = await createTestDb();
  const kms = localKms();
  try {
    const first = sequencerOn(db, kms);
    await recordReads(db, 1);
    await first.seq.drain();
    await first.seq.stop();
    const { key_id: keyId } = (await db.db.query<{ key_id: string }>('SELECT key_id FROM audit_signing_key')).rows[0]!;
    // An insider with KEK access wraps their own key under the real key id: the public key check catches it.
    const other = seedOf(generateKeyPairSync('ed25519').privateKey);
    await db.db.query('UPDATE audit_signing_key_wrap SET wrapped = $2 WHERE key_id = $1', [keyId, await kms.wrap(other, signingKeyContext(keyId))]);
    const second = sequencerOn(db, kms);
    await recordReads(db, 1);
    await assert.rejects(second.seq.drain(), (err: { code?: string }) => err.code === 'AUDIT_SIGNING_KEY_MISMATCH');
    assert.equal(second.seq.isLeader, false);
  } finally {
    await kms.close();
    await db.drop();
  }
});
