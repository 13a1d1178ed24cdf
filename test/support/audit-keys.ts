import { createAuditEntryCrypto, type AuditEntry, type AuditEntryCrypto } from '../../src/audit/index.js';
import { createKeyring, createLocalKms, type Keyring, type Kms } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import type { Db } from '../../src/store/index.js';

/**
 * The audit key and blind-index key of a test server's tenant, read the way an
 * auditor's tool would: the local KMS of its data directory and the data_key rows.
 */
export interface AuditKeys {
  kms: Kms;
  keyring: Keyring;
  crypto: AuditEntryCrypto;
  /** Entries of audit_entry rows, v2 details opened. */
  entries(sql: string, params?: unknown[]): Promise<(AuditEntry & { unavailable?: string })[]>;
  close(): Promise<void>;
}

export function auditKeysOf(db: Db, dataDir: string): AuditKeys {
  const kms = createLocalKms({ dataDir, env: 'test', logger: silentLogger });
  // After a shred in a test, keyring.clear() makes the next use re-read the (destroyed) key rows.
  const keyring = createKeyring({ db, kms });
  const crypto = createAuditEntryCrypto(keyring);
  return {
    kms,
    keyring,
    crypto,
    async entries(sql, params = []) {
      const res = await db.query<{ entry_id: string; canonical: Buffer }>(sql, params);
      const stored = res.rows.map((r) => ({ entryId: String(r.entry_id), seq: null, entry: JSON.parse(r.canonical.toString('utf8')) as AuditEntry }));
      return (await crypto.open(stored)).map((s) => (s.unavailable ? { ...s.entry, unavailable: s.unavailable } : s.entry));
    },
    async close() {
      await keyring.close();
      await kms.close();
    },
  };
}

/** The distinct patients an opened entry names (what the audit_entry view's patient_ids holds for a v1 entry). */
export function patientsOf(entry: AuditEntry): string[] {
  return [...new Set(entry.resources.map((r) => r.patient).filter((p): p is string => p !== undefined))];
}
