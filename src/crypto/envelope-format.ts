import { createCipheriv, createDecipheriv } from 'node:crypto';
import { HavenError } from '../kernel/index.js';
import { randomNonce } from './nonce-pool.js';

/**
 * The at-rest envelope for one encrypted value:
 *
 *   format (1) | purpose (1) | key version (4, big-endian) | nonce (12) | AES-256-GCM ciphertext | tag (16)
 *
 * The header (format, purpose, key version) is part of the associated data,
 * followed by the caller's context (for resources: the row identity), so
 * neither the key reference nor the row the bytes belong to can be changed
 * without the tag failing.
 */
export const ENVELOPE_FORMAT_V1 = 0x01;
const HEADER_BYTES = 6;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const ENVELOPE_OVERHEAD = HEADER_BYTES + NONCE_BYTES + TAG_BYTES;

/**
 * Purposes a data-encryption key can serve; a DEK is never used for two.
 * `backup` seals the per-backup key of the tenant's section of a backup
 * (store/backup/): it is never itself copied into a backup, so destroying it
 * (crypto-shredding) reaches backups taken before the shred.
 */
export const PURPOSES = ['resources', 'audit', 'blobs', 'blind-index', 'backup'] as const;
export type KeyPurpose = (typeof PURPOSES)[number];
const purposeCode: Record<KeyPurpose, number> = { resources: 1, audit: 2, blobs: 3, 'blind-index': 4, backup: 5 };

export interface EnvelopeHeader {
  purpose: KeyPurpose;
  keyVersion: number;
}

/** Reads the header without decrypting: which key the bytes need. */
export function parseEnvelopeHeader(bytes: Buffer, where: string): EnvelopeHeader {
  if (bytes.length < ENVELOPE_OVERHEAD) {
    throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where}: stored ciphertext is truncated (${bytes.length} bytes); it was not written by Haven or has been damaged`);
  }
  if (bytes[0] !== ENVELOPE_FORMAT_V1) {
    throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where}: stored bytes are not a Haven envelope (format byte ${bytes[0]}); plaintext or damaged data`);
  }
  const purpose = PURPOSES.find((p) => purposeCode[p] === bytes[1]);
  if (!purpose) {
    throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${where}: stored ciphertext names an unknown key purpose (${bytes[1]})`);
  }
  return { purpose, keyVersion: bytes.readUInt32BE(2) };
}

function header(h: EnvelopeHeader): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b[0] = ENVELOPE_FORMAT_V1;
  b[1] = purposeCode[h.purpose];
  b.writeUInt32BE(h.keyVersion, 2);
  return b;
}

/** Encrypts with a fresh random 96-bit nonce. `key` must be 32 bytes. */
export function sealEnvelope(key: Buffer, h: EnvelopeHeader, plaintext: Buffer, context: Buffer): Buffer {
  const head = header(h);
  const nonce = randomNonce(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.concat([head, context]));
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([head, nonce, body, final, cipher.getAuthTag()]);
}

/** Decrypts and authenticates; any mismatch (key, header, context, bytes) is CRYPTO_DECRYPT_FAILED. */
export function openEnvelope(key: Buffer, bytes: Buffer, context: Buffer, where: string): Buffer {
  parseEnvelopeHeader(bytes, where);
  const nonce = bytes.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const body = bytes.subarray(HEADER_BYTES + NONCE_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.concat([bytes.subarray(0, HEADER_BYTES), context]));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (err) {
    throw new HavenError(
      'fault',
      'CRYPTO_DECRYPT_FAILED',
      `${where}: stored ciphertext failed authentication (tampered, truncated, or moved from another row); no data returned`,
      { cause: err instanceof Error ? err.message : undefined },
    );
  }
}

/**
 * Unambiguous associated data from string parts: each part length-prefixed,
 * so ("a|b", "c") and ("a", "b|c") never produce the same bytes.
 */
export function contextOf(label: string, parts: (string | number)[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of [label, ...parts.map(String)]) {
    const b = Buffer.from(part, 'utf8');
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length, 0);
    chunks.push(len, b);
  }
  return Buffer.concat(chunks);
}
