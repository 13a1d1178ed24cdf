import type { SqlQueryable } from '../../crypto/index.js';
import type { RowIdentity } from '../body-codec.js';
import type { Queryable } from '../db.js';

/**
 * The tables whose bytes are sealed with a tenant's `resources` DEK, and how
 * to walk each in keyset order. A stored envelope is
 * format (1) | purpose (1) | key version (4, BE) | …, so the key version of a
 * row is readable in SQL without decrypting: `substring(col from 3 for 4)`.
 */
export interface SealedTable {
  name: 'resource' | 'resource_version' | 'hl7v2_message';
  column: string;
  /** Keyset columns (after tenant_id) with their SQL types, in ORDER BY order. */
  keys: { col: string; type: string }[];
  identity(tenant: string, row: Record<string, unknown>): RowIdentity;
}

export const SEALED_TABLES: readonly SealedTable[] = [
  {
    name: 'resource',
    column: 'content',
    keys: [{ col: 'resource_type', type: 'text' }, { col: 'id', type: 'text' }],
    identity: (tenant, r) => ({ tenant, resourceType: String(r['resource_type']), id: String(r['id']), versionId: Number(r['version_id']) }),
  },
  {
    name: 'resource_version',
    column: 'content',
    keys: [{ col: 'resource_type', type: 'text' }, { col: 'id', type: 'text' }, { col: 'version_id', type: 'bigint' }],
    identity: (tenant, r) => ({ tenant, resourceType: String(r['resource_type']), id: String(r['id']), versionId: Number(r['version_id']) }),
  },
  {
    name: 'hl7v2_message',
    column: 'body',
    keys: [{ col: 'id', type: 'uuid' }],
    // The same identity the message store seals with (src/hl7v2/ingest/message-store.ts).
    identity: (tenant, r) => ({ tenant, resourceType: 'Hl7v2Message', id: String(r['id']), versionId: 1 }),
  },
];

export function tableByName(name: string): SealedTable | undefined {
  return SEALED_TABLES.find((t) => t.name === name);
}

export function versionBytes(version: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(version, 0);
  return b;
}

/** `col` holds a `resources` envelope whose key version is NOT $2. */
const otherVersion = (col: string) => `${col} IS NOT NULL AND get_byte(${col}, 0) = 1 AND get_byte(${col}, 1) = 1 AND substring(${col} from 3 for 4) <> $2`;

/** The next batch of rows sealed under another version than `toVersion`, after `cursor` (keyset). */
export async function nextBatch(
  q: Queryable,
  t: SealedTable,
  tenant: string,
  toVersion: number,
  cursor: string[] | null,
  limit: number,
): Promise<Record<string, unknown>[]> {
  const cols = t.keys.map((k) => k.col);
  const params: unknown[] = [tenant, versionBytes(toVersion), limit];
  let after = '';
  if (cursor) {
    const placeholders = t.keys.map((k, i) => `$${i + 4}::${k.type}`);
    after = ` AND (${cols.join(', ')}) > (${placeholders.join(', ')})`;
    params.push(...cursor);
  }
  const extra = t.name === 'resource' ? ', version_id' : '';
  const res = await q.query(
    `SELECT ${cols.join(', ')}${extra}, ${t.column} AS sealed FROM ${t.name}
     WHERE tenant_id = $1 AND ${otherVersion(t.column)}${after}
     ORDER BY ${cols.join(', ')} LIMIT $3`,
    params,
  );
  return res.rows;
}

/**
 * Compare-and-swap of a whole batch in one statement: a row is rewritten only
 * if it still holds exactly the bytes we re-encrypted. A user's write in
 * between changed them (a new version, sealed with the new key) and wins.
 * Returns how many rows were rewritten.
 */
export async function swapSealed(q: Queryable, t: SealedTable, tenant: string, rows: Record<string, unknown>[], sealed: Buffer[]): Promise<number> {
  const keyArrays = t.keys.map((k, i) => `$${i + 4}::${k.type}[]`);
  const aliases = t.keys.map((_, i) => `k${i}`);
  const match = t.keys.map((k, i) => `r.${k.col} = u.k${i}`).join(' AND ');
  const res = await q.query(
    `UPDATE ${t.name} r SET ${t.column} = u.new
     FROM UNNEST($2::bytea[], $3::bytea[], ${keyArrays.join(', ')}) AS u(old, new, ${aliases.join(', ')})
     WHERE r.tenant_id = $1 AND ${match} AND r.${t.column} = u.old`,
    [tenant, rows.map((r) => r['sealed']), sealed, ...t.keys.map((k) => rows.map((r) => String(r[k.col])))],
  );
  return res.rowCount ?? 0;
}

/** Rows of the tenant still sealed under `version` of its `resources` DEK, over every sealed table. */
export async function countSealedWith(q: SqlQueryable, tenant: string, version: number): Promise<number> {
  let n = 0;
  for (const t of SEALED_TABLES) {
    const c = t.column;
    const res = await q.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${t.name} WHERE tenant_id = $1 AND ${c} IS NOT NULL AND get_byte(${c}, 0) = 1
         AND get_byte(${c}, 1) = 1 AND substring(${c} from 3 for 4) = $2`,
      [tenant, versionBytes(version)],
    );
    n += Number(res.rows[0]!.n);
  }
  return n;
}
