import type { KeyPurpose } from './envelope-format.js';

/**
 * The SQL the key ring needs, against the `data_key` table (migration
 * 003-keys.sql). crypto/ may not import store/, so the database is described
 * structurally here; the store's Db satisfies it.
 */
export interface SqlQueryable {
  query<R extends Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}
export interface SqlDb extends SqlQueryable {
  transaction<T>(work: (tx: SqlQueryable) => Promise<T>): Promise<T>;
}

export type DataKeyRow = {
  tenant_id: string;
  purpose: KeyPurpose;
  version: number;
  status: 'active' | 'retired' | 'destroyed';
  kek_id: string;
  wrapped: Buffer | null;
};

const COLS = 'tenant_id, purpose, version, status, kek_id, wrapped';

export async function findActiveKey(q: SqlQueryable, tenant: string, purpose: KeyPurpose): Promise<DataKeyRow | undefined> {
  const res = await q.query<DataKeyRow>(
    `SELECT ${COLS} FROM data_key WHERE tenant_id = $1 AND purpose = $2 AND status = 'active'`,
    [tenant, purpose],
  );
  return res.rows[0];
}

export async function findKey(q: SqlQueryable, tenant: string, purpose: KeyPurpose, version: number): Promise<DataKeyRow | undefined> {
  const res = await q.query<DataKeyRow>(
    `SELECT ${COLS} FROM data_key WHERE tenant_id = $1 AND purpose = $2 AND version = $3`,
    [tenant, purpose, version],
  );
  return res.rows[0];
}

/** A tenant is shredded when it has data keys and every one of them was destroyed. */
export async function isShredded(q: SqlQueryable, tenant: string): Promise<boolean> {
  const res = await q.query<{ shredded: boolean }>(
    `SELECT count(*) > 0 AND bool_and(status = 'destroyed') AS shredded FROM data_key WHERE tenant_id = $1`,
    [tenant],
  );
  return res.rows[0]?.shredded === true;
}

/**
 * Inserts version 1 (or the next) as active unless another node won the race;
 * the caller then re-reads the active key, so every node converges on one DEK.
 */
export async function insertFirstKey(q: SqlQueryable, tenant: string, purpose: KeyPurpose, kekId: string, wrapped: Buffer): Promise<void> {
  await q.query(
    `INSERT INTO data_key (tenant_id, purpose, version, status, kek_id, wrapped)
     SELECT $1, $2, COALESCE(MAX(version), 0) + 1, 'active', $3, $4 FROM data_key WHERE tenant_id = $1 AND purpose = $2
     ON CONFLICT DO NOTHING`,
    [tenant, purpose, kekId, wrapped],
  );
}

/** Every DEK that still has a wrapped form, locked for re-wrapping. */
export async function lockWrappedKeys(q: SqlQueryable): Promise<DataKeyRow[]> {
  const res = await q.query<DataKeyRow>(
    `SELECT ${COLS} FROM data_key WHERE wrapped IS NOT NULL ORDER BY tenant_id, purpose, version FOR UPDATE`,
  );
  return res.rows;
}

export async function updateWrapped(q: SqlQueryable, row: DataKeyRow, kekId: string, wrapped: Buffer): Promise<void> {
  await q.query(
    `UPDATE data_key SET kek_id = $4, wrapped = $5, rewrapped_at = now()
     WHERE tenant_id = $1 AND purpose = $2 AND version = $3`,
    [row.tenant_id, row.purpose, row.version, kekId, wrapped],
  );
}
