import { randomBytes } from 'node:crypto';
import { contextOf, openEnvelope, sealEnvelope, type Keyring } from '../../crypto/index.js';
import { HavenError } from '../../kernel/index.js';

/**
 * The key of one tenant's section of a backup (format 2): 32 random bytes per
 * backup and tenant, sealed (AES-256-GCM) under the tenant's `backup` DEK with
 * the backup id, tenant and DEK version as associated data. The `backup` DEK
 * lives only in the installation's `data_key` table (wrapped by the KEK) and
 * is never copied into a backup, so once `haven tenant shred` destroys it the
 * section cannot be opened, however old the backup.
 */
export interface SealedSectionKey {
  keyVersion: number;
  /** base64 envelope. */
  sealedKey: string;
}

const sectionContext = (backupId: string, tenant: string) => contextOf('haven/backup/section-key/v2', [backupId, tenant]);

/** A fresh section key and its sealed form (the caller zeroes `key`). Creates the tenant's `backup` DEK on first use. */
export async function newSectionKey(keyring: Keyring, backupId: string, tenant: string): Promise<{ key: Buffer } & SealedSectionKey> {
  const key = randomBytes(32);
  return keyring.withActiveKey(tenant, 'backup', (dek, ref) => ({
    key,
    keyVersion: ref.version,
    sealedKey: sealEnvelope(dek, { purpose: 'backup', keyVersion: ref.version }, key, sectionContext(backupId, tenant)).toString('base64'),
  }));
}

export type SectionKeyOutcome = { ok: true; key: Buffer } | { ok: false; reason: string };

/**
 * Opens a section key with the tenant's `backup` DEK from the key store. A
 * shredded tenant (or a destroyed key) is an expected outcome, not an error:
 * the restore skips that tenant and says why. A key the store does not have
 * at all means the wrong key store, and refuses the restore.
 */
export async function openSectionKey(keyring: Keyring, backupId: string, tenant: string, s: SealedSectionKey): Promise<SectionKeyOutcome> {
  const where = `Backup section key of tenant ${tenant}`;
  try {
    const key = await keyring.withKey({ tenant, purpose: 'backup', version: s.keyVersion }, (dek) =>
      openEnvelope(dek, Buffer.from(s.sealedKey, 'base64'), sectionContext(backupId, tenant), where),
    );
    return { ok: true, key };
  } catch (err) {
    const code = err instanceof HavenError ? err.code : undefined;
    if (code === 'CRYPTO_TENANT_SHREDDED') return { ok: false, reason: `tenant ${tenant} was crypto-shredded: its backup key was destroyed, so its data in this backup cannot be read` };
    if (code === 'CRYPTO_KEY_DESTROYED') return { ok: false, reason: `the backup key v${s.keyVersion} of tenant ${tenant} was destroyed, so its data in this backup cannot be read` };
    if (code === 'CRYPTO_KEY_NOT_FOUND') {
      throw new HavenError('incorrect', 'BACKUP_KEY_UNAVAILABLE', `Backup refused: the key store has no backup key v${s.keyVersion} for tenant ${tenant}; restore with --keys-from the installation that took the backup (or a replica of its data_key table)`, { cause: err });
    }
    if (code === 'KMS_UNWRAP_FAILED' || code === 'KMS_KEK_NOT_FOUND') {
      throw new HavenError('incorrect', 'BACKUP_KEY_UNAVAILABLE', `Backup refused: the backup key of tenant ${tenant} in the key store cannot be unwrapped by this KMS; restore needs the KMS of the installation that took the backup`, { cause: err });
    }
    if (code === 'CRYPTO_DECRYPT_FAILED' || code === 'CRYPTO_CIPHERTEXT_INVALID') {
      throw new HavenError('incorrect', 'BACKUP_KEY_UNAVAILABLE', `Backup refused: the backup key of tenant ${tenant} in the key store does not open this backup (another installation's key store?)`, { cause: err });
    }
    throw err;
  }
}
