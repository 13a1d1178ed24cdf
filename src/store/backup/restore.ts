import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { createKeyring, type Kms, type SqlDb } from '../../crypto/index.js';
import { HavenError } from '../../kernel/index.js';
import type { Db, Queryable } from '../db.js';
import { appliedMigrations, backupKeyContext, MANIFEST, ownedTableInfo, READABLE_FORMATS, type BackupFile, type BackupManifest } from './backup.js';
import { manifestMac, openSealedFile, sha256File } from './sealed-file.js';
import { openSectionKey } from './tenant-keys.js';

const corrupt = (reason: string) => new HavenError('incorrect', 'BACKUP_CORRUPT', `Backup refused: ${reason}; nothing was restored`);

/** A tenant of the backup that is not restored, and why (crypto-shredded since the backup). */
export interface SkippedTenant {
  tenant: string;
  reason: string;
}

export interface VerifiedBackup {
  manifest: BackupManifest;
  /** The installation key (format 1: the only key). */
  key: Buffer;
  /** Format 2: the opened key of every tenant section that can be restored. */
  sectionKeys: Map<string, Buffer>;
  skipped: SkippedTenant[];
}

/**
 * Checks the manifest MAC, every file's presence and SHA-256 (all of them,
 * skipped tenants' too), and authenticated decryption of every file whose key
 * is available. Writes nothing. `keyStore` holds the tenants' `backup` DEKs
 * (the installation's `data_key`); a tenant whose keys were destroyed there is
 * skipped with its reason, never half-decrypted.
 */
export async function verifyBackup(dir: string, kms: Kms, keyStore?: SqlDb): Promise<VerifiedBackup> {
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
  if (!READABLE_FORMATS.includes(manifest.format)) throw corrupt(`unknown backup format ${String(manifest.format)}`);
  let key: Buffer;
  try {
    key = await kms.unwrap(Buffer.from(manifest.wrappedKey, 'base64'), backupKeyContext(manifest.backupId));
  } catch (err) {
    throw new HavenError('incorrect', 'BACKUP_KEY_UNAVAILABLE', `Backup refused: its key cannot be unwrapped by this KMS (it was wrapped by ${manifest.kekId}); restore needs the same KMS`, { cause: err });
  }
  const sectionKeys = new Map<string, Buffer>();
  try {
    if (manifestMac(key, outer.manifest) !== outer.mac) throw corrupt(`${MANIFEST} was altered (its MAC does not match)`);
    const skipped = manifest.format === 1 ? await shreddedIn(keyStore, manifest) : await openSections(manifest, kms, keyStore, sectionKeys);
    const skippedIds = new Set(skipped.map((x) => x.tenant));
    for (const f of manifest.files) {
      const fileKey = f.tenant === undefined ? key : sectionKeys.get(f.tenant);
      await verifyFile(dir, f, skippedIds.has(f.tenant ?? '') ? undefined : fileKey, manifest.backupId);
    }
    return { manifest, key, sectionKeys, skipped };
  } catch (err) {
    key.fill(0);
    for (const k of sectionKeys.values()) k.fill(0);
    throw err;
  }
}

/** Format 2: sections are well formed, each file is in its tenant's section, and each section key opens (or the tenant was shredded). */
async function openSections(manifest: BackupManifest, kms: Kms, keyStore: SqlDb | undefined, out: Map<string, Buffer>): Promise<SkippedTenant[]> {
  const sections = manifest.tenants ?? [];
  const dirs = new Map<string, string>();
  for (const s of sections) {
    if (!/^tenants\/\d{4}$/.test(s.dir) || dirs.has(s.tenant) || [...dirs.values()].includes(s.dir)) throw corrupt(`tenant section ${s.dir} is invalid`);
    dirs.set(s.tenant, s.dir);
  }
  for (const f of manifest.files) {
    const dir = f.tenant === undefined ? undefined : dirs.get(f.tenant);
    if (f.tenant !== undefined ? !dir || !f.name.startsWith(`${dir}/`) : f.name.startsWith('tenants/')) throw corrupt(`file ${f.name} is not in its section`);
  }
  if (sections.length === 0) return [];
  if (!keyStore) throw new HavenError('incorrect', 'BACKUP_KEY_UNAVAILABLE', 'Backup refused: its tenant sections need the tenants\' backup keys; give the key store (--keys-from)');
  const keyring = createKeyring({ db: keyStore, kms });
  const skipped: SkippedTenant[] = [];
  try {
    for (const s of sections) {
      const r = await openSectionKey(keyring, manifest.backupId, s.tenant, s);
      if (r.ok) out.set(s.tenant, r.key);
      else skipped.push({ tenant: s.tenant, reason: r.reason });
    }
  } finally {
    await keyring.close();
  }
  return skipped;
}

/**
 * Format 1 has no tenant sections (every tenant's DEKs travel inside it,
 * wrapped by the KEK), so shredding cannot reach it cryptographically. As a
 * policy, tenants the key store knows as shredded are still not restored.
 */
async function shreddedIn(keyStore: SqlDb | undefined, manifest: BackupManifest): Promise<SkippedTenant[]> {
  if (!keyStore) return [];
  const res = await keyStore.query<{ tenant_id: string }>(
    `SELECT tenant_id FROM data_key GROUP BY tenant_id HAVING bool_and(status = 'destroyed') AND ($1::text IS NULL OR tenant_id = $1) ORDER BY tenant_id`,
    [manifest.tenant],
  );
  return res.rows.map((r) => ({ tenant: r.tenant_id, reason: `tenant ${r.tenant_id} was crypto-shredded in the key store; not restored from this format-1 backup (which still holds its keys wrapped by the KEK: delete it)` }));
}

async function verifyFile(dir: string, f: BackupFile, key: Buffer | undefined, backupId: string): Promise<void> {
  const path = join(dir, f.name);
  if (!existsSync(path)) throw corrupt(`file ${f.name} is missing`);
  if ((await sha256File(path)) !== f.sha256) throw corrupt(`file ${f.name} does not match its SHA-256 in the manifest (corrupted, replaced or swapped)`);
  if (!key) return; // a skipped tenant's file: intact, but unreadable by design
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
    // `backup` DEKs may be there already: the target can be its own key store.
    `SELECT (SELECT count(*) FROM resource) + (SELECT count(*) FROM data_key WHERE purpose <> 'backup') + (SELECT count(*) FROM audit_batch) AS n`,
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
  /**
   * Where the tenants' `backup` DEKs are: the `data_key` table of the
   * installation that took the backup (or a replica of it). Default: the
   * target database itself. Its `backup` key rows for the backup's tenants
   * are copied into the target, so the restored instance can read older
   * backups too and knows which tenants were shredded.
   */
  keyStore?: SqlDb;
}

export interface RestoreResult extends BackupManifest {
  /** Tenants of the backup that were not restored (crypto-shredded), with the reason. */
  skippedTenants: SkippedTenant[];
  /** Audit entries of those tenants (and of tenants shredded before the backup) restored as leaf hashes only. */
  auditEntriesWithheld: number;
}

/** Verifies everything first, then loads all tables in ONE transaction and writes the blobs. */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const keyStore = o.keyStore ?? o.db;
  const { manifest, key, sectionKeys, skipped } = await verifyBackup(o.from, o.kms, keyStore);
  const skippedIds = new Set(skipped.map((x) => x.tenant));
  const keyOf = (f: BackupFile) => (f.tenant === undefined ? key : sectionKeys.get(f.tenant));
  let auditEntriesWithheld = 0;
  const restorable = (f: BackupFile) => !skippedIds.has(f.tenant ?? '') && (manifest.format !== 1 || f.kind !== 'blob' || !skippedIds.has(f.source.split('/')[0]!));
  try {
    await assertEmpty(o.db, o.blobDir, manifest.migrations);
    await o.db.transaction(async (tx) => {
      const info = new Map((await ownedTableInfo(tx, false)).map((t) => [t.name, t]));
      const tableFiles = manifest.files.filter((x) => x.kind === 'table');
      const tables = [...new Set([...(manifest.tables ?? []), ...tableFiles.map((f) => f.source)])];
      for (const table of tables) {
        if (!/^[a-z_][a-z0-9_]*$/.test(table) || !info.has(table)) throw corrupt(`table name ${table} is invalid`);
        await clearSeeded(tx, table, manifest.tenant);
      }
      // Rows of skipped tenants outside their sections (format 1, the audit queue) are filtered out;
      // the audit seq ledger is kept whole so the restored log stays continuous.
      const filtered = (f: BackupFile) => f.tenant === undefined && info.get(f.source)!.hasTenant && f.source !== 'audit_batch_log';
      for (const f of tableFiles.filter(restorable)) await loadTable(tx, o.from, f, keyOf(f)!, manifest.backupId, filtered(f) ? [...skippedIds] : undefined);
      if (keyStore !== o.db && manifest.format >= 2) await copyBackupKeys(keyStore, tx, (manifest.tenants ?? []).map((t) => t.tenant));
      const withheldTenants = [...new Set([...skippedIds, ...(manifest.shredded ?? [])])];
      const leaves = manifest.files.find((x) => x.kind === 'audit-leaves' && x.tenant === undefined);
      if (leaves && withheldTenants.length > 0 && info.has('audit_batch_log')) {
        auditEntriesWithheld = await withholdAuditBatches(tx, o.from, leaves, key, manifest.backupId, withheldTenants);
      }
      for (const table of tables) await moveSequences(tx, table);
      // A skipped tenant's batch ids stay in the seq ledger: new batches must not reuse them.
      if (skippedIds.size > 0 && info.has('audit_batch_log')) {
        await tx.query(`SELECT setval(pg_get_serial_sequence('audit_batch', 'batch_id'), GREATEST((SELECT max(batch_id) FROM audit_batch_log), (SELECT max(batch_id) FROM audit_batch), 1))`);
      }
    });
    for (const f of manifest.files.filter((x) => x.kind === 'blob' && restorable(x))) {
      if (!o.blobDir) break;
      const target = join(o.blobDir, normalize(f.source));
      if (!target.startsWith(o.blobDir)) throw corrupt(`blob path ${f.source} leaves the blob directory`);
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      const fh = await open(target, 'wx', 0o600);
      try {
        for await (const c of openSealedFile(join(o.from, f.name), keyOf(f)!, manifest.backupId, f.name)) await fh.write(c);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    return { ...manifest, skippedTenants: skipped, auditEntriesWithheld };
  } finally {
    key.fill(0);
    for (const k of sectionKeys.values()) k.fill(0);
  }
}

/** Rows a fresh migrate seeded (e.g. the default tenant): all of them, or the backed-up tenant's; never the target's own backup keys. */
async function clearSeeded(tx: Queryable, table: string, tenant: string | null): Promise<void> {
  const conds = [tenant === null ? '' : 'tenant_id = $1', table === 'data_key' ? `purpose <> 'backup'` : ''].filter(Boolean);
  await tx.query(`DELETE FROM ${table} ${conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : ''}`, tenant === null ? [] : [tenant]);
}

/** The key store's `backup` DEK rows of the backup's tenants (destroyed ones too: the target then knows them as shredded). */
async function copyBackupKeys(from: SqlDb, tx: Queryable, tenants: string[]): Promise<void> {
  if (tenants.length === 0) return;
  const rows = await from.query<{ j: string }>(`SELECT row_to_json(k)::text AS j FROM data_key k WHERE purpose = 'backup' AND tenant_id = ANY($1::text[])`, [tenants]);
  if (rows.rows.length === 0) return;
  await tx.query(`INSERT INTO data_key SELECT * FROM json_populate_recordset(NULL::data_key, $1::json) ON CONFLICT DO NOTHING`, [`[${rows.rows.map((r) => r.j).join(',')}]`]);
}

/** `skip`: tenants whose rows must not be loaded (format 1, or an installation table with tenant_id). */
async function loadTable(tx: Queryable, dir: string, f: BackupFile, key: Buffer, backupId: string, skip: string[] | undefined): Promise<void> {
  const table = f.source;
  const filter = skip && skip.length > 0 ? 'WHERE r.tenant_id <> ALL($2::text[])' : '';
  await forEachRowChunk(dir, f, key, backupId, async (json) => {
    await tx.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json) r ${filter}`, filter ? [json, skip] : [json]);
  });
}

/** The file's JSON lines, 500 at a time, as one JSON array text. */
async function forEachRowChunk(dir: string, f: BackupFile, key: Buffer, backupId: string, use: (json: string) => Promise<void>): Promise<void> {
  let rest = '';
  const flush = async (lines: string[]) => {
    if (lines.length > 0) await use(`[${lines.join(',')}]`);
  };
  for await (const chunk of openSealedFile(join(dir, f.name), key, backupId, f.name)) {
    const text = rest + chunk.toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop()!;
    for (let i = 0; i < lines.length; i += 500) await flush(lines.slice(i, i + 500));
  }
  await flush(rest ? [rest] : []);
}

const WITHHELD_REASON = 'tenant crypto-shredded: its entries are sealed in a backup section no key opens any more';

/**
 * Sequenced audit batches of tenants that are not restored come back as
 * withheld (migration 030): leaf hashes and time span from the backup's
 * installation part, NULL entries, no patients. Unsequenced ones were never
 * in the tree and are left out. Returns the entries withheld.
 */
async function withholdAuditBatches(tx: Queryable, dir: string, f: BackupFile, key: Buffer, backupId: string, tenants: string[]): Promise<number> {
  let withheld = 0;
  await forEachRowChunk(dir, f, key, backupId, async (json) => {
    const res = await tx.query<{ n: string }>(
      `WITH w AS (
         INSERT INTO audit_batch (tenant_id, batch_id, first_at, last_at, patient_ids, entries, leaf_hashes, withheld)
         SELECT r.tenant_id, r.batch_id, r.first_at, r.last_at, '{}', array_fill(NULL::bytea, ARRAY[cardinality(r.leaf_hashes)]), r.leaf_hashes, $3
         FROM json_populate_recordset(NULL::audit_batch, $1::json) r
         WHERE r.tenant_id = ANY($2::text[])
           AND EXISTS (SELECT 1 FROM audit_batch_log l WHERE l.tenant_id = r.tenant_id AND l.batch_id = r.batch_id)
           AND NOT EXISTS (SELECT 1 FROM audit_batch b WHERE b.tenant_id = r.tenant_id AND b.batch_id = r.batch_id)
         RETURNING cardinality(leaf_hashes) AS n)
       SELECT coalesce(sum(n), 0)::text AS n FROM w`,
      [json, tenants, WITHHELD_REASON],
    );
    withheld += Number(res.rows[0]!.n);
  });
  return withheld;
}

async function moveSequences(tx: Queryable, table: string): Promise<void> {
  const serials = await tx.query<{ col: string; seq: string }>(
    `SELECT column_name AS col, pg_get_serial_sequence($1, column_name) AS seq FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1 AND column_default LIKE 'nextval%'`,
    [table],
  );
  for (const s of serials.rows) await tx.query(`SELECT setval($1, GREATEST((SELECT max(${s.col}) FROM ${table}), 1))`, [s.seq]);
}
