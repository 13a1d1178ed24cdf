import { randomBytes } from 'node:crypto';
import { HavenError } from '../kernel/index.js';
import type { DataKeyRow, SqlDb, SqlQueryable } from './data-key-store.js';
import type { KeyPurpose } from './envelope-format.js';
import { DEK_BYTES, dekContext, type Kms } from './kms.js';

/**
 * DEK lifecycle in `data_key` (no schema change): `active` encrypts new data;
 * a rotation turns it `retired` (still readable, no new data) and inserts the
 * next version `active`; `destroyed` keeps the row (so ciphertext naming the
 * version gets a clear error) but drops the wrapped key.
 */
export interface DekRotationResult {
  tenant: string;
  purpose: KeyPurpose;
  from: number | undefined;
  to: number;
}

/**
 * Purposes whose existing data the background job can re-encrypt (see
 * docs/security/encryption.md): `resources` (bodies, history, HL7 v2 message
 * bodies) and `blobs` (export files, audit archive segments).
 */
export const REENCRYPTED_PURPOSES: readonly KeyPurpose[] = ['resources', 'blobs'];

/**
 * Purposes `haven keys rotate --dek` can rotate: the re-encrypted ones, and
 * `audit`, whose new version seals new entries while every old version stays
 * (signed entries are never re-encrypted: their bytes are the Merkle leaves).
 * Not `blind-index`: its tags are HMACs searched by equality, so a new key
 * needs a reindex.
 */
export const ROTATABLE_PURPOSES: readonly KeyPurpose[] = ['resources', 'blobs', 'audit'];

/**
 * Creates the next DEK version and makes it active in ONE transaction (the
 * old active row is locked, so two rotations of the same series serialize).
 * Every node's key ring notices the new version within its refresh interval.
 */
export async function rotateDek(deps: { db: SqlDb; kms: Kms }, tenant: string, purpose: KeyPurpose): Promise<DekRotationResult> {
  if (!ROTATABLE_PURPOSES.includes(purpose)) {
    throw new HavenError('incorrect', 'KEYS_PURPOSE_NOT_ROTATABLE', `DEK rotation supports the purposes ${ROTATABLE_PURPOSES.join(', ')}; '${purpose}' keys cannot rotate (blind-index tags would need a reindex)`);
  }
  const dek = randomBytes(DEK_BYTES);
  try {
    const wrapped = await deps.kms.wrap(dek, dekContext(tenant, purpose));
    const kekId = deps.kms.describe().kekId;
    return await deps.db.transaction(async (tx) => {
      const all = await tx.query<Pick<DataKeyRow, 'version' | 'status'>>(
        'SELECT version, status FROM data_key WHERE tenant_id = $1 AND purpose = $2 ORDER BY version FOR UPDATE',
        [tenant, purpose],
      );
      if (all.rows.length > 0 && all.rows.every((r) => r.status === 'destroyed')) {
        throw new HavenError('gone', 'CRYPTO_TENANT_SHREDDED', `Tenant ${tenant} was crypto-shredded; its keys cannot be rotated`);
      }
      const from = all.rows.find((r) => r.status === 'active')?.version;
      const to = Math.max(0, ...all.rows.map((r) => r.version)) + 1;
      await tx.query(`UPDATE data_key SET status = 'retired' WHERE tenant_id = $1 AND purpose = $2 AND status = 'active'`, [tenant, purpose]);
      await tx.query(
        `INSERT INTO data_key (tenant_id, purpose, version, status, kek_id, wrapped) VALUES ($1, $2, $3, 'active', $4, $5)`,
        [tenant, purpose, to, kekId, wrapped],
      );
      return { tenant, purpose, from, to };
    });
  } finally {
    dek.fill(0);
  }
}

/** Crypto-shredding: every DEK of the tenant (all purposes, all versions) loses its wrapped form. */
export async function shredTenantKeys(db: SqlQueryable, tenant: string): Promise<number> {
  const res = await db.query<{ n: string }>(
    `WITH d AS (UPDATE data_key SET status = 'destroyed', wrapped = NULL WHERE tenant_id = $1 AND status <> 'destroyed' RETURNING 1)
     SELECT count(*) AS n FROM d`,
    [tenant],
  );
  return Number(res.rows[0]?.n ?? 0);
}

/** Retired DEKs (candidates for destruction), oldest first. */
export async function retiredKeys(db: SqlDb, tenant?: string): Promise<{ tenant_id: string; purpose: KeyPurpose; version: number }[]> {
  const res = await db.query<{ tenant_id: string; purpose: KeyPurpose; version: number }>(
    `SELECT tenant_id, purpose, version FROM data_key WHERE status = 'retired' AND ($1::text IS NULL OR tenant_id = $1)
     ORDER BY tenant_id, purpose, version`,
    [tenant ?? null],
  );
  return res.rows;
}

/**
 * Destroys one retired DEK if `stillUsed` (evaluated inside the transaction
 * that holds the row lock) finds no data under it. Returns whether it did.
 */
export async function destroyRetiredKey(
  db: SqlDb,
  key: { tenant_id: string; purpose: KeyPurpose; version: number },
  stillUsed: (q: Pick<SqlDb, 'query'>) => Promise<number>,
): Promise<{ destroyed: boolean; inUse: number }> {
  return db.transaction(async (tx) => {
    const row = await tx.query<{ status: string }>(
      'SELECT status FROM data_key WHERE tenant_id = $1 AND purpose = $2 AND version = $3 FOR UPDATE',
      [key.tenant_id, key.purpose, key.version],
    );
    if (row.rows[0]?.status !== 'retired') return { destroyed: false, inUse: 0 };
    const inUse = await stillUsed(tx);
    if (inUse > 0) return { destroyed: false, inUse };
    await tx.query(
      `UPDATE data_key SET status = 'destroyed', wrapped = NULL WHERE tenant_id = $1 AND purpose = $2 AND version = $3`,
      [key.tenant_id, key.purpose, key.version],
    );
    return { destroyed: true, inUse: 0 };
  });
}
