import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import type { Kms } from '../../crypto/index.js';
import { HavenError } from '../../kernel/index.js';
import type { Db, Queryable } from '../db.js';
import { appliedMigrations, BACKUP_FORMAT, backupKeyContext, MANIFEST, type BackupFile, type BackupManifest } from './backup.js';
import { manifestMac, openSealedFile, sha256File } from './sealed-file.js';

const corrupt = (reason: string) => new HavenError('incorrect', 'BACKUP_CORRUPT', `Backup refused: ${reason}; nothing was restored`);

export interface VerifiedBackup {
  manifest: BackupManifest;
  key: Buffer;
}

/** Checks the manifest MAC, every file's presence, SHA-256 and authenticated decryption. Writes nothing. */
export async function verifyBackup(dir: string, kms: Kms): Promise<VerifiedBackup> {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) throw corrupt(`${MANIFEST} is missing`);
  let outer: { manifest: string; mac: string };
  let manifest: BackupManifest;
  try {
    outer = JSON.parse(await readFile(path, 'utf8')) as { manifest: string; mac: string };
    manifest = JSON.parse(outer.manifest) as BackupManifest;
  } catch {
    throw corrupt(`${MANIFEST} is not valid JSON`);
  }
  if (manifest.format !== BACKUP_FORMAT) throw corrupt(`unknown backup format ${String(manifest.format)}`);
  let key: Buffer;
  try {
    key = await kms.unwrap(Buffer.from(manifest.wrappedKey, 'base64'), backupKeyContext(manifest.backupId));
  } catch (err) {
    throw new HavenError('incorrect', 'BACKUP_KEY_UNAVAILABLE', `Backup refused: its key cannot be unwrapped by this KMS (it was wrapped by ${manifest.kekId}); restore needs the same KMS`, { cause: err });
  }
  if (manifestMac(key, outer.manifest) !== outer.mac) throw corrupt(`${MANIFEST} was altered (its MAC does not match)`);
  for (const f of manifest.files) await verifyFile(dir, f, key, manifest.backupId);
  return { manifest, key };
}

async function verifyFile(dir: string, f: BackupFile, key: Buffer, backupId: string): Promise<void> {
  const path = join(dir, f.name);
  if (!existsSync(path)) throw corrupt(`file ${f.name} is missing`);
  if ((await sha256File(path)) !== f.sha256) throw corrupt(`file ${f.name} does not match its SHA-256 in the manifest (corrupted, replaced or swapped)`);
  let lines = 0;
  try {
    for await (const chunk of openSealedFile(path, key, backupId, f.name)) for (const b of chunk) if (b === 0x0a) lines++;
  } catch (err) {
    throw corrupt(`file ${f.name} failed authenticated decryption (${err instanceof HavenError ? err.code : 'error'})`);
  }
  if (f.kind === 'table' && lines !== f.rows) throw corrupt(`file ${f.name} holds ${lines} rows, the manifest says ${f.rows}`);
}

/** An instance is empty when it holds no resources, keys or audit entries (a fresh `migrate` is fine). */
async function assertEmpty(db: Queryable, blobDir: string | undefined, migrations: string[]): Promise<void> {
  const here = await appliedMigrations(db);
  if (here.join(',') !== migrations.join(',')) {
    const missing = migrations.filter((m) => !here.includes(m));
    const extra = here.filter((m) => !migrations.includes(m));
    throw new HavenError('incorrect', 'BACKUP_SCHEMA_MISMATCH', `Restore refused: the backup was taken at another schema version (missing here: ${missing.join(', ') || 'none'}; not in the backup: ${extra.join(', ') || 'none'}); restore with the Haven release that took it`);
  }
  const res = await db.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM resource) + (SELECT count(*) FROM data_key) + (SELECT count(*) FROM audit_batch) AS n`,
  );
  if (Number(res.rows[0]!.n) > 0) throw new HavenError('incorrect', 'BACKUP_RESTORE_TARGET_NOT_EMPTY', 'Restore refused: the target database already holds resources, data keys or audit entries; restore only into an empty instance');
  if (blobDir && existsSync(blobDir) && (await readdir(blobDir)).length > 0) {
    throw new HavenError('incorrect', 'BACKUP_RESTORE_TARGET_NOT_EMPTY', `Restore refused: the blob directory ${blobDir} is not empty`);
  }
}

export interface RestoreOptions {
  db: Db;
  kms: Kms;
  from: string;
  blobDir?: string;
}

/** Verifies everything first, then loads all tables in ONE transaction and writes the blobs. */
export async function restoreBackup(o: RestoreOptions): Promise<BackupManifest> {
  const { manifest, key } = await verifyBackup(o.from, o.kms);
  try {
    await assertEmpty(o.db, o.blobDir, manifest.migrations);
    await o.db.transaction(async (tx) => {
      for (const f of manifest.files.filter((x) => x.kind === 'table')) await loadTable(tx, o.from, f, key, manifest);
    });
    for (const f of manifest.files.filter((x) => x.kind === 'blob')) {
      if (!o.blobDir) break;
      const target = join(o.blobDir, normalize(f.source));
      if (!target.startsWith(o.blobDir)) throw corrupt(`blob path ${f.source} leaves the blob directory`);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const fh = await open(target, 'wx', 0o600);
      try {
        for await (const c of openSealedFile(join(o.from, f.name), key, manifest.backupId, f.name)) await fh.write(c);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    return manifest;
  } finally {
    key.fill(0);
  }
}

async function loadTable(tx: Queryable, dir: string, f: BackupFile, key: Buffer, manifest: BackupManifest): Promise<void> {
  const table = f.source;
  const backupId = manifest.backupId;
  if (!/^[a-z_][a-z0-9_]*$/.test(table)) throw corrupt(`table name ${table} is invalid`);
  // Rows a fresh migrate seeded (e.g. the default tenant): all of them, or the backed-up tenant's.
  if (manifest.tenant === null) await tx.query(`DELETE FROM ${table}`);
  else await tx.query(`DELETE FROM ${table} WHERE tenant_id = $1`, [manifest.tenant]);
  let rest = '';
  const flush = async (lines: string[]) => {
    if (lines.length > 0) await tx.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`, [`[${lines.join(',')}]`]);
  };
  for await (const chunk of openSealedFile(join(dir, f.name), key, backupId, f.name)) {
    const text = rest + chunk.toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (let i = 0; i < lines.length; i += 500) await flush(lines.slice(i, i + 500));
  }
  await flush(rest ? [rest] : []);
  const serials = await tx.query<{ col: string; seq: string }>(
    `SELECT column_name AS col, pg_get_serial_sequence($1, column_name) AS seq FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1 AND column_default LIKE 'nextval%'`,
    [table],
  );
  for (const s of serials.rows) await tx.query(`SELECT setval($1, GREATEST((SELECT max(${s.col}) FROM ${table}), 1))`, [s.seq]);
}
