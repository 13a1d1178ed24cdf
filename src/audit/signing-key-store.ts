import { createPrivateKey, type KeyObject } from 'node:crypto';
import { secretContext, type Kms, type RewrapSecrets, type SqlQueryable } from '../crypto/index.js';
import { HavenError } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';

/**
 * The tree-head signing key at rest (migration 018): its 32-byte Ed25519 seed
 * wrapped by the KMS KEK in `audit_signing_key_wrap`, bound to the key id and
 * purpose. Without a KMS (encryption at rest off, HAVEN_ENV=test only) the
 * seed is stored as is under kek_id `none`, as resource bodies are then.
 */
export const SIGNING_KEY_PURPOSE = 'audit-tree-head';
export const NO_KEK = 'none';

// PKCS#8 DER of an Ed25519 private key is a fixed 16-byte prefix plus the 32-byte seed.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export const signingKeyContext = (keyId: string): Buffer => secretContext(SIGNING_KEY_PURPOSE, keyId);

/** The seed of a private key (the caller zeroes it). */
export function seedOf(privateKey: KeyObject): Buffer {
  return seedFromPkcs8(privateKey.export({ format: 'der', type: 'pkcs8' }));
}

/** Copies the seed out of a PKCS#8 DER and zeroes the DER. */
export function seedFromPkcs8(der: Buffer): Buffer {
  try {
    if (der.length !== PKCS8_PREFIX.length + 32 || !der.subarray(0, PKCS8_PREFIX.length).equals(PKCS8_PREFIX)) {
      throw new HavenError('fault', 'AUDIT_SIGNING_KEY_INVALID', 'A stored audit signing key is not an Ed25519 PKCS#8 key');
    }
    return Buffer.from(der.subarray(PKCS8_PREFIX.length));
  } finally {
    der.fill(0);
  }
}

/** A private key object from a seed; the temporary DER is zeroed (the KeyObject's own copy cannot be). */
export function privateFromSeed(seed: Buffer): KeyObject {
  const der = Buffer.concat([PKCS8_PREFIX, seed]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

export interface SealedKey {
  kekId: string;
  wrapped: Buffer;
}

export async function sealSeed(kms: Kms | undefined, keyId: string, seed: Buffer): Promise<SealedKey> {
  if (!kms) return { kekId: NO_KEK, wrapped: Buffer.from(seed) };
  const wrapped = await kms.wrap(seed, signingKeyContext(keyId));
  return { kekId: kms.describe().kekId, wrapped };
}

/** The seed of a wrapped key (the caller zeroes it). */
export async function openSeed(kms: Kms | undefined, keyId: string, sealed: SealedKey): Promise<Buffer> {
  if (sealed.kekId === NO_KEK) return Buffer.from(sealed.wrapped);
  if (!kms) {
    throw new HavenError('unavailable', 'AUDIT_SIGNING_KEY_UNAVAILABLE', `The audit signing key ${keyId} is wrapped by KEK ${sealed.kekId}, but no KMS is configured (HAVEN_ENCRYPTION=off?)`);
  }
  return kms.unwrap(sealed.wrapped, signingKeyContext(keyId));
}

export async function insertWrapped(q: Queryable, keyId: string, sealed: SealedKey): Promise<void> {
  await q.query(
    `INSERT INTO audit_signing_key_wrap (key_id, kek_id, wrapped) VALUES ($1, $2, $3)
     ON CONFLICT (key_id) DO UPDATE SET kek_id = EXCLUDED.kek_id, wrapped = EXCLUDED.wrapped, rewrapped_at = now()`,
    [keyId, sealed.kekId, sealed.wrapped],
  );
}

/**
 * KEK rotation (`haven keys rotate --kek`, crypto/rotate.ts): re-wraps every
 * KMS-wrapped signing key in the rotation's transaction; the ids re-wrapped
 * are pushed to `rewrapped` (for the audit entries written after the commit).
 */
export function signingKeyRewrap(rewrapped: string[]): RewrapSecrets {
  return async (tx: SqlQueryable, rewrap, kekId) => {
    const rows = await tx.query<{ key_id: string; wrapped: Buffer }>(
      'SELECT key_id, wrapped FROM audit_signing_key_wrap WHERE kek_id <> $1 ORDER BY key_id FOR UPDATE',
      [NO_KEK],
    );
    for (const r of rows.rows) {
      const wrapped = await rewrap(r.wrapped, signingKeyContext(r.key_id));
      await tx.query('UPDATE audit_signing_key_wrap SET kek_id = $2, wrapped = $3, rewrapped_at = now() WHERE key_id = $1', [r.key_id, kekId, wrapped]);
      rewrapped.push(r.key_id);
    }
    return rows.rows.length;
  };
}
