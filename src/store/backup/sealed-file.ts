import { createHash, createHmac } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { contextOf, openEnvelope, sealEnvelope } from '../../crypto/index.js';
import { HavenError } from '../../kernel/index.js';

/**
 * One backup file: a series of length-prefixed AES-256-GCM envelopes under
 * the backup's own key, each bound (associated data) to the backup id, the
 * file name, its segment number and whether it is the last one, so a segment
 * cannot be moved, reordered, dropped or the file truncated unnoticed. The
 * envelope header's purpose byte says `blobs` with key version 0: the key is
 * not a tenant DEK but the per-backup key wrapped in the manifest.
 */
const HEADER = { purpose: 'blobs' as const, keyVersion: 0 };
/** Writers emit at most a few MiB per segment; anything far larger is damage, not data. */
const MAX_SEGMENT = 256 * 1024 * 1024;
const ctx = (backupId: string, name: string, seg: number, last: boolean) => contextOf('haven/backup/v1', [backupId, name, seg, last ? 1 : 0]);

export interface SealedFileWriter {
  write(plaintext: Buffer): Promise<void>;
  close(): Promise<{ sha256: string; bytes: number }>;
}

export async function createSealedFile(path: string, key: Buffer, backupId: string, name: string): Promise<SealedFileWriter> {
  const fh = await open(path, 'wx', 0o600);
  const hash = createHash('sha256');
  let seg = 0;
  let bytes = 0;
  let pending: Buffer | undefined; // one segment held back, so the last one is known when sealed
  const emit = async (plain: Buffer, last: boolean) => {
    const sealed = sealEnvelope(key, HEADER, plain, ctx(backupId, name, seg++, last));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(sealed.length, 0);
    const out = Buffer.concat([len, sealed]);
    hash.update(out);
    bytes += out.length;
    await fh.write(out);
  };
  return {
    async write(plaintext) {
      if (pending) await emit(pending, false);
      pending = plaintext;
    },
    async close() {
      await emit(pending ?? Buffer.alloc(0), true);
      await fh.sync();
      await fh.close();
      return { sha256: hash.digest('hex'), bytes };
    },
  };
}

/** Reads exactly `n` bytes at `pos`, or fewer at the end of the file. */
async function readAt(fh: FileHandle, pos: number, n: number): Promise<Buffer> {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const { bytesRead } = await fh.read(buf, got, n - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** Decrypts a sealed file segment by segment (memory: one segment); every failure names the file. */
export async function* openSealedFile(path: string, key: Buffer, backupId: string, name: string): AsyncGenerator<Buffer> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    let off = 0;
    for (let seg = 0; ; seg++) {
      const lenBytes = await readAt(fh, off, 4);
      if (lenBytes.length < 4) throw new HavenError('incorrect', 'BACKUP_CORRUPT', `Backup file ${name} is truncated`);
      const len = lenBytes.readUInt32BE(0);
      if (len > MAX_SEGMENT) throw new HavenError('incorrect', 'BACKUP_CORRUPT', `Backup file ${name} has an implausible segment length`);
      const sealed = await readAt(fh, off + 4, len);
      off += 4 + len;
      const last = off >= size;
      yield openEnvelope(key, sealed, ctx(backupId, name, seg, last), `Backup file ${name} segment ${seg}`);
      if (last) return;
    }
  } finally {
    await fh.close();
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** MAC of the manifest body under a key derived from the backup key (not the encryption key itself). */
export function manifestMac(key: Buffer, body: string): string {
  const macKey = createHmac('sha256', key).update('haven/backup/manifest-mac/v1').digest();
  return createHmac('sha256', macKey).update(body).digest('hex');
}
