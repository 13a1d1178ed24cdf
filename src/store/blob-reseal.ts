import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { openEnvelope, parseEnvelopeHeader, sealEnvelope, type Keyring } from '../crypto/index.js';
import { HavenError } from '../kernel/index.js';
import { readSegments, segmentContext, writeSegment } from './blob-store.js';

/**
 * DEK rotation of the local blob store (export files, audit archive segments):
 * which blobs still name an old `blobs` key version, and re-sealing one under
 * the new version. A blob's segments each name their key version in the
 * envelope header, so the version is read from a few header bytes per
 * segment, without decrypting.
 */

const HEADER_BYTES = 6;

/** Every blob of a tenant, as blob names (`exports/job/Patient.ndjson`), sorted; files being written are skipped. */
export async function listTenantBlobs(blobDir: string, tenant: string): Promise<string[]> {
  const root = join(blobDir, tenant);
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.partial-'))
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** The key versions a blob's segments were sealed with (header bytes only). */
export async function blobKeyVersions(path: string): Promise<Set<number>> {
  const versions = new Set<number>();
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(4 + HEADER_BYTES);
    for (let pos = 0; pos < size; ) {
      const { bytesRead } = await fh.read(head, 0, head.length, pos);
      if (bytesRead < head.length) break; // truncated: reading it reports the damage
      versions.add(head.readUInt32BE(6));
      pos += 4 + head.readUInt32BE(0);
    }
  } finally {
    await fh.close();
  }
  return versions;
}

const usesOther = async (path: string, version: number) => [...(await blobKeyVersions(path))].some((v) => v !== version);

/** Up to `limit` blobs of the tenant after `cursor` (name order) holding a segment under another version than `toVersion`. */
export async function blobsToReseal(blobDir: string, tenant: string, toVersion: number, cursor: string | null, limit: number): Promise<string[]> {
  const out: string[] = [];
  for (const name of await listTenantBlobs(blobDir, tenant)) {
    if (cursor !== null && name <= cursor) continue;
    if (await usesOther(join(blobDir, tenant, name), toVersion).catch(() => false)) out.push(name);
    if (out.length >= limit) break;
  }
  return out;
}

/** How many blobs of the tenant hold at least one segment sealed with `version` (retired-key destruction checks this). */
export async function countBlobsSealedWith(blobDir: string, tenant: string, version: number): Promise<number> {
  let n = 0;
  for (const name of await listTenantBlobs(blobDir, tenant)) {
    const versions = await blobKeyVersions(join(blobDir, tenant, name)).catch(() => new Set<number>());
    if (versions.has(version)) n++;
  }
  return n;
}

type Identity = { ino: number; size: number; mtimeMs: number };
const sameFile = (a: Identity, b: Identity) => a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;

/**
 * Re-seals one blob under `toVersion`: every segment is authenticated with its
 * old key (a damaged blob is never re-sealed: CRYPTO_DECRYPT_FAILED), sealed
 * again with the same associated data, written to a hidden partial file and
 * renamed over the blob only if the blob is still the file we read (inode,
 * size, mtime): a blob deleted or rewritten meanwhile (by then under the new
 * key) is left alone. Returns whether it replaced the file.
 */
export async function resealBlob(blobDir: string, tenant: string, name: string, keyring: Keyring, toVersion: number): Promise<boolean> {
  const path = join(blobDir, tenant, name);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    return false; // deleted meanwhile (an export expired)
  }
  const partial = join(dirname(path), `.partial-${randomBytes(6).toString('hex')}`);
  let before: Identity;
  let out: FileHandle | undefined;
  try {
    before = await fh.stat();
    out = await open(partial, 'wx', 0o600);
    const where = `Blob ${name}`;
    for await (const s of readSegments(fh, where)) {
      const context = segmentContext(tenant, name, s.n, s.last);
      const head = parseEnvelopeHeader(s.sealed, where);
      if (head.purpose !== 'blobs') throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where}: sealed for '${head.purpose}', not for blobs`);
      const plain = await keyring.withKey({ tenant, purpose: 'blobs', version: head.keyVersion }, (key) => openEnvelope(key, s.sealed, context, where));
      try {
        await writeSegment(out, await keyring.withKey({ tenant, purpose: 'blobs', version: toVersion }, (key) => sealEnvelope(key, { purpose: 'blobs', keyVersion: toVersion }, plain, context)));
      } finally {
        plain.fill(0);
      }
    }
    await out.sync();
  } catch (err) {
    await out?.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw err;
  } finally {
    await fh.close();
  }
  await out.close();
  const now = await stat(path).catch(() => undefined);
  if (!now || !sameFile(before, now)) {
    await rm(partial, { force: true });
    return false;
  }
  await rename(partial, path);
  return true;
}
