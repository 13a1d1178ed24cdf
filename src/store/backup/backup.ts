import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createReadStream, existsSync } from 'node:fs';
import { createKeyring, type Keyring, type Kms } from '../../crypto/index.js';
import { HavenError } from '../../kernel/index.js';
import type { Db } from '../db.js';
import { createSealedFile, manifestMac, type SealedFileWriter } from './sealed-file.js';
import { newSectionKey } from './tenant-keys.js';

/**
 * `haven backup`: a consistent snapshot of every table Haven owns (one
 * REPEATABLE READ, READ ONLY transaction: all tables as of one instant) plus
 * the blob directory. Rows travel as JSON lines (bytea as hex), read through a
 * cursor so memory stays flat; the manifest lists every file's SHA-256 and is
 * MACed under the installation key.
 *
 * Format 2 (this writer): each tenant's rows and blobs form a SECTION
 * (`tenants/NNNN/…`) sealed under its own random key, and that key is sealed
 * by the tenant's `backup` DEK (tenant-keys.ts), which stays in the live
 * `data_key` table and is never copied into a backup: crypto-shredding the
 * tenant makes its section unreadable in every backup, old ones included.
 * Installation-wide tables (no tenant_id, plus the audit log's queue and
 * seq ledger) stay under the per-backup installation key wrapped by the KMS,
 * as in format 1.
 * Format 1 (one per-backup key for everything) is still read by restore.ts.
 */
export const BACKUP_FORMAT = 2;
export const READABLE_FORMATS = [1, 2];
export const MANIFEST = 'manifest.json';
const FETCH = 1000;

export interface BackupFile {
  name: string;
  /** `audit-leaves`: every audit batch's leaf hashes (AUDIT_LEAVES), kept for shredded tenants' batches. */
  kind: 'table' | 'blob' | 'audit-leaves';
  /** Table name, or blob path relative to the blob directory. */
  source: string;
  rows: number;
  sha256: string;
  bytes: number;
  /** Format 2: the tenant whose section key seals this file; absent = the installation key. */
  tenant?: string;
}

/** Format 2: one tenant's section. */
export interface BackupTenantSection {
  tenant: string;
  /** Directory of the section's files (`tenants/0000`): tenant ids are not file names. */
  dir: string;
  /** Version of the tenant's `backup` DEK that sealed `sealedKey`. */
  keyVersion: number;
  sealedKey: string;
}

export interface BackupManifest {
  format: number;
  backupId: string;
  createdAt: string;
  tenant: string | null;
  kekId: string;
  /** The installation key (format 1: the only key), wrapped by the KMS; it also keys the manifest MAC. */
  wrappedKey: string;
  /** Schema migrations applied to the source: restore needs the same schema. */
  migrations: string[];
  files: BackupFile[];
  /** Format 2: every table of the snapshot (a tenant's empty table has no file; restore still clears its seeded rows). */
  tables?: string[];
  /** Format 2. */
  tenants?: BackupTenantSection[];
  /** Format 2: tenants already shredded when the backup was taken (their rows were left out). */
  shredded?: string[];
}

export const backupKeyContext = (backupId: string) => Buffer.from(`haven-backup:v1|${backupId}`, 'utf8');

/**
 * Tables with tenant_id that belong to the installation's one audit log, not
 * to a tenant's section: the sequencer's queue and the seq → batch ledger (no
 * PHI: seqs, tenant ids, batch ids, counts). Kept whole even when a shredded
 * tenant is skipped, so the restored log stays continuous and the sequencer
 * resumes; the shredded tenant's batches themselves are in its section.
 */
export const INSTALLATION_LOG_TABLES = new Set(['audit_batch_queue', 'audit_batch_log']);
/** The sequencer's work queue is left out of tenant backups. */
const NOT_IN_TENANT_BACKUPS = new Set(['audit_batch_queue']);

/**
 * The installation's one Merkle tree runs through every tenant's audit
 * entries, but a tenant's batches live in its section, which a shred seals
 * for ever. So the installation part of a backup also holds each batch's
 * leaf hashes and time span (no PHI): restoring without a shredded tenant
 * writes its sequenced batches back as withheld (migration 030), and the
 * tree stays provable around them.
 */
export const AUDIT_LEAVES = { name: 'audit_batch_leaves.jsonl.sealed', select: 'SELECT tenant_id, batch_id, first_at, last_at, leaf_hashes FROM audit_batch' };

export interface OwnedTable {
  name: string;
  hasTenant: boolean;
  /** Rows belong to a tenant: format 2 puts them in that tenant's section. */
  perTenant: boolean;
}

/** Tables to back up: everything in the schema except the migration ledger; tenant backups keep only tables with tenant_id. */
export async function ownedTableInfo(db: Pick<Db, 'query'>, tenantOnly: boolean): Promise<OwnedTable[]> {
  const res = await db.query<{ table_name: string; has_tenant: boolean }>(
    `SELECT t.table_name, EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = t.table_schema
              AND c.table_name = t.table_name AND c.column_name = 'tenant_id') AS has_tenant
     FROM information_schema.tables t WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
       AND t.table_name <> 'schema_migration' ORDER BY t.table_name`,
  );
  return res.rows
    .map((r) => ({ name: r.table_name, hasTenant: r.has_tenant, perTenant: r.has_tenant && !INSTALLATION_LOG_TABLES.has(r.table_name) }))
    .filter((t) => !tenantOnly || (t.hasTenant && !NOT_IN_TENANT_BACKUPS.has(t.name)));
}

export async function ownedTables(db: Pick<Db, 'query'>, tenantOnly: boolean): Promise<string[]> {
  return (await ownedTableInfo(db, tenantOnly)).map((t) => t.name);
}

export async function appliedMigrations(db: Pick<Db, 'query'>): Promise<string[]> {
  return (await db.query<{ version: string }>('SELECT version FROM schema_migration ORDER BY version')).rows.map((r) => r.version);
}

export interface BackupOptions {
  db: Db;
  kms: Kms;
  out: string;
  blobDir?: string;
  tenant?: string;
}

interface Section {
  tenant: string;
  dir: string;
  key: Buffer;
  keyVersion: number;
  sealedKey: string;
}

/** Tenant sections, opened on the first row or blob of a tenant; a shredded tenant gets none. */
function createSections(keyring: Keyring, out: string, backupId: string) {
  const byTenant = new Map<string, Promise<Section | undefined>>();
  const shredded: string[] = [];
  let next = 0;
  const open = async (tenant: string): Promise<Section | undefined> => {
    const dir = `tenants/${String(next++).padStart(4, '0')}`;
    try {
      const k = await newSectionKey(keyring, backupId, tenant);
      await mkdir(join(out, dir, 'blobs'), { recursive: true, mode: 0o700 });
      return { tenant, dir, ...k };
    } catch (err) {
      // Its rows are ciphertext under destroyed keys: nothing in them could ever be restored.
      if (err instanceof HavenError && err.code === 'CRYPTO_TENANT_SHREDDED') {
        shredded.push(tenant);
        return undefined;
      }
      throw err;
    }
  };
  return {
    get(tenant: string): Promise<Section | undefined> {
      let p = byTenant.get(tenant);
      if (!p) byTenant.set(tenant, (p = open(tenant)));
      return p;
    },
    async list(): Promise<Section[]> {
      return (await Promise.all([...byTenant.values()].map((p) => p.catch(() => undefined)))).filter((x): x is Section => x !== undefined);
    },
    shredded: () => [...shredded].sort(),
  };
}
type Sections = ReturnType<typeof createSections>;

export async function createBackup(o: BackupOptions): Promise<BackupManifest> {
  if (existsSync(o.out) && (await readdir(o.out)).length > 0) throw new HavenError('incorrect', 'BACKUP_TARGET_NOT_EMPTY', `Backup directory ${o.out} is not empty`);
  await mkdir(join(o.out, 'blobs'), { recursive: true, mode: 0o700 });
  const backupId = randomUUID();
  const key = randomBytes(32);
  const keyring = createKeyring({ db: o.db, kms: o.kms });
  const sections = createSections(keyring, o.out, backupId);
  try {
    if (o.tenant !== undefined && !(await sections.get(o.tenant))) {
      throw new HavenError('gone', 'CRYPTO_TENANT_SHREDDED', `Tenant ${o.tenant} was crypto-shredded: there is nothing readable to back up`);
    }
    const wrapped = await o.kms.wrap(key, backupKeyContext(backupId));
    const migrations = await appliedMigrations(o.db);
    const { files, tables } = await dumpTables(o, key, backupId, sections);
    if (o.blobDir && existsSync(o.blobDir)) files.push(...(await copyBlobs(o, key, backupId, sections)));
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT, backupId, createdAt: new Date().toISOString(), tenant: o.tenant ?? null,
      kekId: o.kms.describe().kekId, wrappedKey: wrapped.toString('base64'), migrations, files,
      tables,
      tenants: (await sections.list()).map((x) => ({ tenant: x.tenant, dir: x.dir, keyVersion: x.keyVersion, sealedKey: x.sealedKey })),
      shredded: sections.shredded(),
    };
    const body = JSON.stringify(manifest);
    await writeFile(join(o.out, MANIFEST), JSON.stringify({ manifest: body, mac: manifestMac(key, body) }), { mode: 0o600 });
    return manifest;
  } finally {
    key.fill(0);
    for (const x of await sections.list()) x.key.fill(0);
    await keyring.close();
  }
}

interface OpenFile {
  w: SealedFileWriter;
  name: string;
  tenant: string;
  rows: number;
}

async function dumpTables(o: BackupOptions, key: Buffer, backupId: string, sections: Sections): Promise<{ files: BackupFile[]; tables: string[] }> {
  const client = await o.db.pool.connect();
  const files: BackupFile[] = [];
  const tables: string[] = [];
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const table of await ownedTableInfo(client, o.tenant !== undefined)) {
      tables.push(table.name);
      const conds = [o.tenant !== undefined ? 'tenant_id = $1' : '', table.name === 'data_key' ? `purpose <> 'backup'` : ''].filter(Boolean);
      const where = conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '';
      const params = o.tenant !== undefined ? [o.tenant] : [];
      if (table.perTenant) files.push(...(await dumpPerTenant(client, o, table.name, where, params, backupId, sections)));
      else files.push(await dumpInstallation(client, o, { name: `${table.name}.jsonl.sealed`, kind: 'table', source: table.name, from: `${table.name} t ${where}` }, params, key, backupId));
    }
    if (o.tenant === undefined && tables.includes('audit_batch')) {
      files.push(await dumpInstallation(client, o, { name: AUDIT_LEAVES.name, kind: 'audit-leaves', source: 'audit_batch', from: `(${AUDIT_LEAVES.select}) t` }, [], key, backupId));
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  return { files, tables };
}

type Client = Pick<Db, 'query'>;

interface InstallationDump {
  name: string;
  kind: BackupFile['kind'];
  source: string;
  /** FROM clause naming the rows as `t`. */
  from: string;
}

async function dumpInstallation(client: Client, o: BackupOptions, d: InstallationDump, params: unknown[], key: Buffer, backupId: string): Promise<BackupFile> {
  const { name } = d;
  const w = await createSealedFile(join(o.out, name), key, backupId, name);
  await client.query(`DECLARE dump NO SCROLL CURSOR FOR SELECT row_to_json(t)::text AS j FROM ${d.from}`, params);
  let rows = 0;
  for (;;) {
    const batch = await client.query<{ j: string }>(`FETCH ${FETCH} FROM dump`);
    if (batch.rows.length === 0) break;
    rows += batch.rows.length;
    await w.write(Buffer.from(batch.rows.map((r) => r.j).join('\n') + '\n', 'utf8'));
  }
  await client.query('CLOSE dump');
  return { name, kind: d.kind, source: d.source, rows, ...(await w.close()) };
}

/** One pass over the table; each row goes to its tenant's file (no sort, one open file per tenant). */
async function dumpPerTenant(client: Client, o: BackupOptions, table: string, where: string, params: unknown[], backupId: string, sections: Sections): Promise<BackupFile[]> {
  const open = new Map<string, OpenFile | null>();
  const files: BackupFile[] = [];
  try {
    await client.query(`DECLARE dump NO SCROLL CURSOR FOR SELECT t.tenant_id AS tid, row_to_json(t)::text AS j FROM ${table} t ${where}`, params);
    for (;;) {
      const batch = await client.query<{ tid: string; j: string }>(`FETCH ${FETCH} FROM dump`);
      if (batch.rows.length === 0) break;
      const byTenant = new Map<string, string[]>();
      for (const r of batch.rows) {
        const lines = byTenant.get(r.tid);
        if (lines) lines.push(r.j);
        else byTenant.set(r.tid, [r.j]);
      }
      for (const [tenant, lines] of byTenant) {
        let f = open.get(tenant);
        if (f === undefined) {
          const sec = await sections.get(tenant);
          const name = sec && `${sec.dir}/${table}.jsonl.sealed`;
          f = sec && name ? { w: await createSealedFile(join(o.out, name), sec.key, backupId, name), name, tenant, rows: 0 } : null;
          open.set(tenant, f);
        }
        if (!f) continue; // shredded tenant
        f.rows += lines.length;
        await f.w.write(Buffer.from(lines.join('\n') + '\n', 'utf8'));
      }
    }
    await client.query('CLOSE dump');
    for (const f of open.values()) if (f) files.push({ name: f.name, kind: 'table', source: table, rows: f.rows, tenant: f.tenant, ...(await f.w.close()) });
    return files;
  } catch (err) {
    for (const f of open.values()) if (f) await f.w.close().catch(() => undefined);
    throw err;
  }
}

async function copyBlobs(o: BackupOptions, key: Buffer, backupId: string, sections: Sections): Promise<BackupFile[]> {
  const files: BackupFile[] = [];
  const counters = new Map<string, number>();
  const entries = await readdir(o.blobDir!, { recursive: true, withFileTypes: true });
  for (const e of entries.filter((x) => x.isFile()).sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))) {
    const path = join(e.parentPath, e.name);
    const rel = relative(o.blobDir!, path);
    // The blob store keeps every tenant's blobs under <blobDir>/<tenant>/.
    const slash = rel.indexOf('/');
    const tenant = slash > 0 ? rel.slice(0, slash) : undefined;
    if (o.tenant !== undefined && tenant !== o.tenant) continue;
    const sec = tenant !== undefined ? await sections.get(tenant) : undefined;
    if (tenant !== undefined && !sec) continue; // shredded tenant
    const dir = sec ? `${sec.dir}/blobs` : 'blobs';
    const n = counters.get(dir) ?? 0;
    counters.set(dir, n + 1);
    const name = `${dir}/${String(n).padStart(6, '0')}.sealed`;
    const w = await createSealedFile(join(o.out, name), sec ? sec.key : key, backupId, name);
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) await w.write(chunk as Buffer);
    files.push({ name, kind: 'blob', source: rel, rows: 0, ...(sec ? { tenant: sec.tenant } : {}), ...(await w.close()) });
  }
  return files;
}
