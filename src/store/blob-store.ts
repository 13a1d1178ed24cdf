import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { contextOf, openEnvelope, parseEnvelopeHeader, sealEnvelope, type Keyring } from '../crypto/index.js';
import { HavenError } from '../kernel/index.js';

/**
 * Blobs (export files, later DICOM and lake files) behind one interface.
 * Everything is encrypted BEFORE it reaches the adapter: a blob is a series of
 * segments, each an AES-256-GCM envelope under the tenant's `blobs` DEK with
 * (tenant, blob name, segment number, last-or-not) as associated data, so a
 * segment cannot be moved, reordered, or the blob truncated unnoticed. Writes
 * stream segment by segment (memory stays flat) into a hidden partial file
 * that is renamed into place on close: a rewritten blob replaces the old one
 * whole, and a crash leaves at most a partial of ciphertext.
 */
export interface BlobWriter {
  write(plaintext: Buffer | string): Promise<void>;
  /** Seals the last segment, flushes to disk and makes the blob visible; returns its plaintext size. */
  close(): Promise<{ bytes: number }>;
  abort(): Promise<void>;
}

export interface BlobStore {
  create(tenant: string, name: string): Promise<BlobWriter>;
  /** The plaintext, segment by segment; throws not-found when absent, fault when tampered. */
  read(tenant: string, name: string): AsyncGenerator<Buffer>;
  exists(tenant: string, name: string): Promise<boolean>;
  delete(tenant: string, name: string): Promise<void>;
  /** Deletes every blob whose name starts with `prefix/`. */
  deletePrefix(tenant: string, prefix: string): Promise<void>;
}

/** Seals and opens blob segments with a tenant's `blobs` key. */
export interface BlobSealer {
  seal(tenant: string, plaintext: Buffer, context: Buffer): Promise<Buffer>;
  open(tenant: string, bytes: Buffer, context: Buffer, where: string): Promise<Buffer>;
}

export function keyringSealer(keyring: Keyring): BlobSealer {
  return {
    seal: (tenant, plaintext, context) =>
      keyring.withActiveKey(tenant, 'blobs', (key, ref) => sealEnvelope(key, { purpose: 'blobs', keyVersion: ref.version }, plaintext, context)),
    async open(tenant, bytes, context, where) {
      const head = parseEnvelopeHeader(bytes, where);
      if (head.purpose !== 'blobs') throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where}: sealed for '${head.purpose}', not for blobs`);
      return keyring.withKey({ tenant, purpose: 'blobs', version: head.keyVersion }, (key) => openEnvelope(key, bytes, context, where));
    },
  };
}

/**
 * With encryption switched off (HAVEN_ENV=test only) there is no keyring; blobs
 * are still never plaintext on disk: they use a key that lives only in this
 * process (files do not survive a restart, which a test environment accepts).
 */
export function ephemeralSealer(): BlobSealer {
  const key = randomBytes(32);
  return {
    seal: async (_t, plaintext, context) => sealEnvelope(key, { purpose: 'blobs', keyVersion: 0 }, plaintext, context),
    open: async (_t, bytes, context, where) => openEnvelope(key, bytes, context, where),
  };
}

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$/;
const SEGMENT_BYTES = 256 * 1024;
const DONE = Promise.resolve();
/** Associated data of segment `n` of a blob (exported for DEK rotation, src/store/blob-reseal.ts). */
export const segmentContext = (tenant: string, name: string, n: number, last: boolean) =>
  contextOf('haven/blob/v1', [tenant, name, n, last ? 'last' : 'more']);

function checkName(tenant: string, name: string): void {
  if (!NAME.test(tenant) || !NAME.test(name)) throw new HavenError('fault', 'BLOB_NAME_INVALID', 'Invalid blob name');
}

export async function writeSegment(fh: FileHandle, sealed: Buffer): Promise<void> {
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(sealed.length, 0);
  await fh.write(len);
  await fh.write(sealed);
}

/**
 * Streams segments into a hidden partial file next to `path`; close() renames it into place.
 * Plaintext is copied into one segment-sized buffer and sealed when it is full, so a writer
 * never holds more than `segmentBytes` of plaintext however large a write is (an export page's
 * lines once made megabyte segments), and the buffer is reused and zeroed, never reallocated.
 */
async function openWriter(path: string, tenant: string, name: string, sealer: BlobSealer, segmentBytes: number): Promise<BlobWriter> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const partial = join(dirname(path), `.partial-${randomBytes(6).toString('hex')}`);
  const fh = await open(partial, 'wx', 0o600);
  const segment = Buffer.alloc(segmentBytes);
  let used = 0;
  let segments = 0;
  let total = 0;
  const flush = async (last: boolean) => {
    try {
      await writeSegment(fh, await sealer.seal(tenant, segment.subarray(0, used), segmentContext(tenant, name, segments, last)));
    } finally {
      segment.fill(0, 0, used);
      used = 0;
    }
    segments++;
  };
  /** Copies `b` in, sealing each segment that fills while more follows. */
  const writeSpanning = async (b: Buffer) => {
    total += b.length;
    for (let at = 0; at < b.length; ) {
      // A full segment is sealed only when more follows: close() must seal the last one as last.
      if (used === segmentBytes) await flush(false);
      const n = b.copy(segment, used, at);
      used += n;
      at += n;
    }
  };
  return {
    write(data) {
      if (typeof data === 'string') {
        const bytes = Buffer.byteLength(data, 'utf8');
        if (used + bytes <= segmentBytes) {
          // The common case (an export line that fits): encoded straight into the segment, no
          // Buffer per line — each would be an ArrayBuffer that only a garbage collection frees —
          // and no promise made (a writer is called once per exported resource).
          used += segment.write(data, used, 'utf8');
          total += bytes;
          return DONE;
        }
      }
      return writeSpanning(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    },
    async close() {
      await flush(true);
      await fh.sync();
      await fh.close();
      await rename(partial, path);
      return { bytes: total };
    },
    async abort() {
      segment.fill(0);
      used = 0;
      await fh.close().catch(() => undefined);
      await rm(partial, { force: true });
    },
  };
}

export function createLocalBlobStore(options: { dir: string; sealer: BlobSealer; segmentBytes?: number }): BlobStore {
  const root = resolve(options.dir);
  const segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
  const { sealer } = options;
  const pathOf = (tenant: string, name: string) => {
    checkName(tenant, name);
    return join(root, tenant, name);
  };
  return {
    create: async (tenant, name) => openWriter(pathOf(tenant, name), tenant, name, sealer, segmentBytes),
    async *read(tenant, name) {
      yield* readBlob(pathOf(tenant, name), tenant, name, sealer);
    },
    async exists(tenant, name) {
      return stat(pathOf(tenant, name)).then(
        () => true,
        () => false,
      );
    },
    async delete(tenant, name) {
      await rm(pathOf(tenant, name), { force: true });
    },
    async deletePrefix(tenant, prefix) {
      await rm(pathOf(tenant, prefix), { recursive: true, force: true });
    },
  };
}

async function* readBlob(path: string, tenant: string, name: string, sealer: BlobSealer): AsyncGenerator<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    throw new HavenError('not-found', 'BLOB_NOT_FOUND', 'The file does not exist (expired or deleted)');
  }
  const where = `Blob ${name}`;
  try {
    for await (const s of readSegments(fh, where)) yield await sealer.open(tenant, s.sealed, segmentContext(tenant, name, s.n, s.last), where);
  } finally {
    await fh.close();
  }
}

/** The sealed segments of an open blob file, in order, without decrypting them. */
export async function* readSegments(fh: FileHandle, where: string): AsyncGenerator<{ n: number; sealed: Buffer; last: boolean }> {
  const size = (await fh.stat()).size;
  let pos = 0;
  for (let n = 0; ; n++) {
    const len = Buffer.alloc(4);
    if ((await fh.read(len, 0, 4, pos)).bytesRead !== 4) throw truncated(where);
    const sealed = Buffer.alloc(len.readUInt32BE(0));
    if ((await fh.read(sealed, 0, sealed.length, pos + 4)).bytesRead !== sealed.length) throw truncated(where);
    pos += 4 + sealed.length;
    const last = pos >= size;
    yield { n, sealed, last };
    if (last) return;
  }
}

function truncated(where: string): HavenError {
  return new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where}: the file is truncated`);
}
