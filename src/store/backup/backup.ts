import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createReadStream, existsSync } from 'node:fs';
import type { Kms } from '../../crypto/index.js';
import { HavenError } from '../../kernel/index.js';
import type { Db } from '../db.js';
import { createSealedFile, manifestMac } from './sealed-file.js';

/**
 * `haven backup`: a consistent snapshot of every table Haven owns (one
 * REPEATABLE READ, READ ONLY transaction: all tables as of one instant) plus
 * the blob directory. Rows travel as JSON lines (bytea as hex), read through a
 * cursor so memory stays flat; every file is sealed again under a fresh
 * per-backup key (index tables hold plaintext search values) and the key is
 * wrapped by the KMS: restoring needs the same KMS. The manifest lists every
 * file's SHA-256 and is MACed.
 */
export const BACKUP_FORMAT = 1;
export const MANIFEST = 'manifest.json';
const FETCH = 1000;

export interface BackupFile {
  name: string;
  kind: 'table' | 'blob';
  /** Table name, or blob path relative to the blob directory. */
  source: string;
  rows: number;
  sha256: string;
  bytes: number;
}

export interface BackupManifest {
  format: number;
  backupId: string;
  createdAt: string;
  tenant: string | null;
  kekId: string;
  wrappedKey: string;
  /** Schema migrations applied to the source: restore needs the same schema. */
  migrations: string[];
  files: BackupFile[];
}

export const backupKeyContext = (backupId: string) => Buffer.from(`haven-backup:v1|${backupId}`, 'utf8');

const INSTALLATION_QUEUES = new Set(['audit_batch_queue']);

/** Tables to back up: everything in the schema except the migration ledger; tenant backups keep only tables with tenant_id. */
export async function ownedTables(db: Pick<Db, 'query'>, tenantOnly: boolean): Promise<string[]> {
  const res = await db.query<{ table_name: string; has_tenant: boolean }>(
    `SELECT t.table_name, EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = t.table_schema
              AND c.table_name = t.table_name AND c.column_name = 'tenant_id') AS has_tenant
     FROM information_schema.tables t WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
       AND t.table_name <> 'schema_migration' ORDER BY t.table_name`,
  );
  // The sequencer's work queue belongs to the installation's one log, not to a tenant.
  return res.rows.filter((r) => !tenantOnly || (r.has_tenant && !INSTALLATION_QUEUES.has(r.table_name))).map((r) => r.table_name);
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

export async function createBackup(o: BackupOptions): Promise<BackupManifest> {
  if (existsSync(o.out) && (await readdir(o.out)).length > 0) throw new HavenError('incorrect', 'BACKUP_TARGET_NOT_EMPTY', `Backup directory ${o.out} is not empty`);
  await mkdir(join(o.out, 'blobs'), { recursive: true, mode: 0o700 });
  const backupId = randomUUID();
  const key = randomBytes(32);
  try {
    const wrapped = await o.kms.wrap(key, backupKeyContext(backupId));
    const migrations = await appliedMigrations(o.db);
    const files = await dumpTables(o, key, backupId);
    if (o.blobDir && existsSync(o.blobDir)) files.push(...(await copyBlobs(o, key, backupId)));
    const manifest: BackupManifest = {
      format: BACKUP_FORMAT, backupId, createdAt: new Date().toISOString(), tenant: o.tenant ?? null,
      kekId: o.kms.describe().kekId, wrappedKey: wrapped.toString('base64'), migrations, files,
    };
    const body = JSON.stringify(manifest);
    await writeFile(join(o.out, MANIFEST), JSON.stringify({ manifest: body, mac: manifestMac(key, body) }), { mode: 0o600 });
    return manifest;
  } finally {
    key.fill(0);
  }
}

async function dumpTables(o: BackupOptions, key: Buffer, backupId: string): Promise<BackupFile[]> {
  const client = await o.db.pool.connect();
  const files: BackupFile[] = [];
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    for (const table of await ownedTables(client, o.tenant !== undefined)) {
      const name = `${table}.jsonl.sealed`;
      const w = await createSealedFile(join(o.out, name), key, backupId, name);
      const where = o.tenant !== undefined ? 'WHERE tenant_id = $1' : '';
      await client.query(`DECLARE dump NO SCROLL CURSOR FOR SELECT row_to_json(t)::text AS j FROM ${table} t ${where}`, o.tenant !== undefined ? [o.tenant] : []);
      let rows = 0;
      for (;;) {
        const batch = await client.query<{ j: string }>(`FETCH ${FETCH} FROM dump`);
        if (batch.rows.length === 0) break;
        rows += batch.rows.length;
        await w.write(Buffer.from(batch.rows.map((r) => r.j).join('\n') + '\n', 'utf8'));
      }
      await client.query('CLOSE dump');
      files.push({ name, kind: 'table', source: table, rows, ...(await w.close()) });
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
  return files;
}

async function copyBlobs(o: BackupOptions, key: Buffer, backupId: string): Promise<BackupFile[]> {
  const files: BackupFile[] = [];
  const entries = await readdir(o.blobDir!, { recursive: true, withFileTypes: true });
  for (const e of entries.filter((x) => x.isFile()).sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))) {
    const path = join(e.parentPath, e.name);
    const rel = relative(o.blobDir!, path);
    if (o.tenant !== undefined && !rel.startsWith(`${o.tenant}/`)) continue;
    const name = `blobs/${String(files.length).padStart(6, '0')}.sealed`;
    const w = await createSealedFile(join(o.out, name), key, backupId, name);
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) await w.write(chunk as Buffer);
    files.push({ name, kind: 'blob', source: rel, rows: 0, ...(await w.close()) });
  }
  return files;
}
