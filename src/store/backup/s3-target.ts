import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HavenError } from '../../kernel/index.js';
import { getObject, putObject, S3_KEY, type S3Location } from '../s3-client.js';
import { createBackup, MANIFEST, type BackupFile, type BackupManifest, type BackupOptions } from './backup.js';
import { restoreBackup, type RestoreOptions, type RestoreResult } from './restore.js';

/**
 * Backups in an S3-compatible bucket. A backup is first written to (or, to
 * restore, fetched into) a local staging directory by the directory code
 * (backup.ts, restore.ts), so the bucket holds exactly the files a directory
 * backup holds and restore verifies everything before writing anything.
 *
 * Layout under `<prefix>/`: every backup file under its own name, or, when
 * larger than a part, as `<name>.part-00000`, `-00001`, … (each one PUT, at
 * most `partBytes`, memory stays one part); `layout.json` (the part size);
 * `manifest.json` LAST and create-only, so a prefix with a manifest holds a
 * complete backup and is never overwritten. Nothing in the bucket is trusted:
 * restore checks the MACed manifest and every file's SHA-256 after reassembly.
 */
export interface S3BackupTarget {
  s3: S3Location;
  /** Key prefix of this one backup, without leading or trailing slash. */
  prefix: string;
  /** Largest object (default 64 MiB; S3 allows 5 GiB in one PUT). */
  partBytes?: number;
}

const LAYOUT = 'layout.json';
const DEFAULT_PART = 64 * 1024 * 1024;
const corrupt = (reason: string) => new HavenError('incorrect', 'BACKUP_CORRUPT', `Backup refused: ${reason}; nothing was restored`);

/** Staging directories are removed afterwards: never one that already holds something. */
async function assertFreshStaging(dir: string): Promise<void> {
  if (existsSync(dir) && (await readdir(dir)).length > 0) throw new HavenError('incorrect', 'BACKUP_TARGET_NOT_EMPTY', `Staging directory ${dir} is not empty`);
}

/** `s3://bucket/some/prefix` → bucket and prefix. */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } | undefined {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.+?)\/*$/.exec(uri);
  if (!m || !S3_KEY.test(m[2]!)) return undefined;
  return { bucket: m[1]!, prefix: m[2]! };
}

const keyOf = (t: S3BackupTarget, name: string) => `${t.prefix}/${name}`;
const partsOf = (bytes: number, partBytes: number) => Math.max(1, Math.ceil(bytes / partBytes));
const partKey = (t: S3BackupTarget, name: string, parts: number, i: number) => (parts === 1 ? keyOf(t, name) : `${keyOf(t, name)}.part-${String(i).padStart(5, '0')}`);

/** Refuses a prefix that already holds a backup (its manifest). */
export async function assertS3TargetEmpty(t: S3BackupTarget): Promise<void> {
  if (await getObject(t.s3, keyOf(t, MANIFEST))) {
    throw new HavenError('incorrect', 'BACKUP_TARGET_NOT_EMPTY', `s3://${t.s3.bucket}/${t.prefix} already holds a backup; choose a new prefix`);
  }
}

/** Uploads a finished directory backup; the manifest goes last, create-only. Returns the objects written. */
export async function uploadBackup(dir: string, t: S3BackupTarget, manifest: BackupManifest): Promise<number> {
  const partBytes = t.partBytes ?? DEFAULT_PART;
  let objects = 0;
  for (const f of manifest.files) objects += await uploadFile(join(dir, f.name), t, f, partBytes);
  await putObject(t.s3, keyOf(t, LAYOUT), Buffer.from(JSON.stringify({ format: 1, partBytes })), { contentType: 'application/json' });
  const stored = await putObject(t.s3, keyOf(t, MANIFEST), await readFile(join(dir, MANIFEST)), { createOnly: true, contentType: 'application/json' });
  if (!stored) throw new HavenError('incorrect', 'BACKUP_TARGET_NOT_EMPTY', `s3://${t.s3.bucket}/${t.prefix} received another backup's manifest meanwhile; this backup's files there are incomplete — use a new prefix`);
  return objects + 2;
}

async function uploadFile(path: string, t: S3BackupTarget, f: BackupFile, partBytes: number): Promise<number> {
  const parts = partsOf(f.bytes, partBytes);
  const fh = await open(path, 'r');
  try {
    for (let i = 0; i < parts; i++) {
      const buf = Buffer.alloc(Math.min(partBytes, f.bytes - i * partBytes));
      const { bytesRead } = await fh.read(buf, 0, buf.length, i * partBytes);
      if (bytesRead !== buf.length) throw new HavenError('fault', 'BACKUP_STAGING_CHANGED', `Staged backup file ${f.name} is shorter than written; not uploaded`);
      await putObject(t.s3, partKey(t, f.name, parts, i), buf);
    }
  } finally {
    await fh.close();
  }
  return parts;
}

/**
 * Fetches a backup into an empty local directory, reassembling parts. Only
 * the names and sizes of the (not yet verified) manifest are used here; the
 * caller then verifies everything (restore.ts) before restoring anything.
 */
export async function downloadBackup(t: S3BackupTarget, dir: string): Promise<void> {
  await assertFreshStaging(dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const raw = await getObject(t.s3, keyOf(t, MANIFEST));
  if (!raw) throw corrupt(`s3://${t.s3.bucket}/${t.prefix}/${MANIFEST} is missing (no backup there, or an unfinished one)`);
  await writeFile(join(dir, MANIFEST), raw, { mode: 0o600 });
  let files: BackupFile[];
  let partBytes: number;
  try {
    files = (JSON.parse((JSON.parse(raw.toString('utf8')) as { manifest: string }).manifest) as BackupManifest).files;
    partBytes = (JSON.parse((await getObject(t.s3, keyOf(t, LAYOUT)))?.toString('utf8') ?? 'null') as { partBytes: number }).partBytes;
  } catch {
    throw corrupt(`${MANIFEST} or ${LAYOUT} in the bucket is not valid JSON`);
  }
  if (!Number.isInteger(partBytes) || partBytes < 1) throw corrupt(`${LAYOUT} in the bucket is missing or invalid`);
  for (const f of files) {
    if (!S3_KEY.test(f.name) || f.name.split('/').includes('..')) throw corrupt(`file name ${f.name} is invalid`);
    await downloadFile(t, f, join(dir, f.name), partBytes);
  }
}

async function downloadFile(t: S3BackupTarget, f: BackupFile, path: string, partBytes: number): Promise<void> {
  const parts = partsOf(f.bytes, partBytes);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const fh = await open(path, 'wx', 0o600);
  try {
    for (let i = 0; i < parts; i++) {
      const body = await getObject(t.s3, partKey(t, f.name, parts, i));
      if (!body) throw corrupt(`file ${f.name}${parts > 1 ? ` (part ${i + 1} of ${parts})` : ''} is missing from the bucket`);
      await fh.write(body);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * `haven backup --to s3://…`: the directory backup is written to `stagingDir`
 * (ciphertext only; needs free space for one backup), uploaded, then removed.
 */
export async function createS3Backup(o: Omit<BackupOptions, 'out'> & { target: S3BackupTarget; stagingDir: string }): Promise<BackupManifest & { objects: number }> {
  await assertS3TargetEmpty(o.target);
  await assertFreshStaging(o.stagingDir);
  try {
    const manifest = await createBackup({ ...o, out: o.stagingDir });
    return { ...manifest, objects: await uploadBackup(o.stagingDir, o.target, manifest) };
  } finally {
    await rm(o.stagingDir, { recursive: true, force: true });
  }
}

/** `haven restore --from s3://…`: fetched into `stagingDir`, verified whole, restored, staging removed. */
export async function restoreS3Backup(o: Omit<RestoreOptions, 'from'> & { target: S3BackupTarget; stagingDir: string }): Promise<RestoreResult> {
  await assertFreshStaging(o.stagingDir);
  try {
    await downloadBackup(o.target, o.stagingDir);
    return await restoreBackup({ ...o, from: o.stagingDir });
  } finally {
    await rm(o.stagingDir, { recursive: true, force: true });
  }
}
