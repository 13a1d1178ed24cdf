import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import type { Kms } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { recordKeyOperation, type KeyOperation } from './key-events.js';
import { insertWrapped, NO_KEK, openSeed, privateFromSeed, sealSeed, seedFromPkcs8, seedOf } from './signing-key-store.js';
import { keyIdOf, publicKeyFromRaw, rawPublicKey, type AuditSigningKey } from './tree-head.js';

/**
 * The sequencer's signing key lifecycle: wrap legacy plaintext keys, create
 * the first key (wrapped from birth), and unwrap the key for this leadership
 * term. Every step that touches private key material is an audit entry
 * (`audit-signing-key-*` operations, key id only).
 */
export interface SigningKeyDeps {
  kms: Kms | undefined;
  logger: Logger;
  /** Tenant the key-operation entries are filed under (the key itself is installation-wide). */
  tenant: string;
}

const ACTOR = 'haven-audit-sequencer';
const keyRef = (keyId: string) => `audit-signing/${keyId}`;

/** Only KMS use is a key operation: without a KMS (encryption off, test only) nothing is wrapped or unwrapped. */
async function record(q: Queryable, d: SigningKeyDeps, operation: KeyOperation['operation'], keyId: string): Promise<void> {
  if (!d.kms) return;
  await recordKeyOperation(q, { tenant: d.tenant, operation, actor: ACTOR, keys: [keyRef(keyId)] });
}

/** Keys stored before migration 018 (plaintext column) or without a KEK, wrapped now by the KMS. */
export async function wrapPlaintextKeys(tx: Queryable, d: SigningKeyDeps): Promise<string[]> {
  const legacy = await tx.query<{ key_id: string; private_key: Buffer }>(
    'SELECT key_id, private_key FROM audit_signing_key WHERE private_key IS NOT NULL ORDER BY key_id FOR UPDATE',
  );
  const unwrapped = d.kms
    ? await tx.query<{ key_id: string; wrapped: Buffer }>('SELECT key_id, wrapped FROM audit_signing_key_wrap WHERE kek_id = $1 ORDER BY key_id FOR UPDATE', [NO_KEK])
    : { rows: [] };
  const done: string[] = [];
  for (const row of legacy.rows) {
    const seed = seedFromPkcs8(row.private_key);
    try {
      await insertWrapped(tx, row.key_id, await sealSeed(d.kms, row.key_id, seed));
    } finally {
      seed.fill(0);
    }
    await scrubPlaintext(tx, d.logger, row.key_id);
    await record(tx, d, 'audit-signing-key-wrap', row.key_id);
    done.push(row.key_id);
  }
  for (const row of unwrapped.rows) {
    await insertWrapped(tx, row.key_id, await sealSeed(d.kms, row.key_id, row.wrapped));
    row.wrapped.fill(0);
    await record(tx, d, 'audit-signing-key-wrap', row.key_id);
    done.push(row.key_id);
  }
  return done;
}

/**
 * The one UPDATE the trigger allows on audit_signing_key (migration 018). On external PostgreSQL
 * where another role owns the table and Haven's role lacks UPDATE (private_key), the wrapped copy
 * is used and the plaintext stays until an administrator runs the scrub (docs/security/audit.md).
 */
async function scrubPlaintext(tx: Queryable, logger: Logger, keyId: string): Promise<void> {
  await tx.query('SAVEPOINT scrub');
  try {
    await tx.query('UPDATE audit_signing_key SET private_key = NULL WHERE key_id = $1', [keyId]);
    await tx.query('RELEASE SAVEPOINT scrub');
  } catch (err) {
    await tx.query('ROLLBACK TO SAVEPOINT scrub');
    logger.warn({ keyId, code: (err as { code?: string }).code }, 'audit signing key wrapped, but its plaintext column could not be cleared; see docs/security/audit.md');
  }
}

interface KeyRow {
  key_id: string;
  public_key: Buffer;
  private_key: Buffer | null;
  kek_id: string | null;
  wrapped: Buffer | null;
}

async function oldestKey(q: Queryable): Promise<KeyRow | undefined> {
  const res = await q.query<KeyRow>(
    `SELECT k.key_id, k.public_key, k.private_key, w.kek_id, w.wrapped
     FROM audit_signing_key k LEFT JOIN audit_signing_key_wrap w USING (key_id) ORDER BY k.created_at, k.key_id LIMIT 1`,
  );
  return res.rows[0];
}

async function createKey(tx: Queryable, d: SigningKeyDeps): Promise<void> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicRaw = rawPublicKey(publicKey);
  const keyId = keyIdOf(publicRaw);
  const seed = seedOf(privateKey);
  try {
    const sealed = await sealSeed(d.kms, keyId, seed);
    await tx.query('INSERT INTO audit_signing_key (key_id, public_key) VALUES ($1, $2)', [keyId, publicRaw]);
    await insertWrapped(tx, keyId, sealed);
  } finally {
    seed.fill(0);
  }
  await record(tx, d, 'audit-signing-key-create', keyId);
}

/**
 * The key for this leadership term, inside the leader's transaction: legacy keys wrapped, the
 * first key created if there is none (the leader lock makes this node the only creator), then
 * the oldest key unwrapped and checked against its public key.
 */
export async function loadSigningKey(tx: Queryable, d: SigningKeyDeps): Promise<AuditSigningKey> {
  await wrapPlaintextKeys(tx, d);
  let row = await oldestKey(tx);
  if (!row) {
    await createKey(tx, d);
    row = (await oldestKey(tx))!;
  }
  if (row.kek_id === null || row.wrapped === null) {
    throw new HavenError('fault', 'AUDIT_SIGNING_KEY_MISSING', `The audit signing key ${row.key_id} has no wrapped private key (audit_signing_key_wrap)`);
  }
  const seed = await openSeed(d.kms, row.key_id, { kekId: row.kek_id, wrapped: row.wrapped });
  try {
    const privateKey = privateFromSeed(seed);
    const derived = rawPublicKey(createPublicKey(privateKey));
    if (!derived.equals(row.public_key)) {
      throw new HavenError('fault', 'AUDIT_SIGNING_KEY_MISMATCH', `The wrapped private key of audit signing key ${row.key_id} does not match its public key`);
    }
    await record(tx, d, 'audit-signing-key-unwrap', row.key_id);
    return { keyId: row.key_id, publicRaw: row.public_key, publicKey: publicKeyFromRaw(row.public_key), privateKey };
  } finally {
    seed.fill(0);
  }
}
