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

/** Purpose by its code byte: a table lookup, as every read parses a header. */
const purposeByCode: (KeyPurpose | undefined)[] = [];
for (const p of PURPOSES) purposeByCode[purposeCode[p]] = p;

/**
 * What an error names (a resource, an audit entry). Read paths pass a
 * function, so the label string is only built when something fails.
 */
export type EnvelopeLabel = string | (() => string);
const named = (where: EnvelopeLabel) => (typeof where === 'string' ? where : where());

/** Reads the header without decrypting: which key the bytes need. */
export function parseEnvelopeHeader(bytes: Buffer, where: EnvelopeLabel): EnvelopeHeader {
  return { purpose: checkHeader(bytes, where), keyVersion: bytes.readUInt32BE(2) };
}

/** The purpose the header names, once the bytes are known to be a Haven envelope at all. */
function checkHeader(bytes: Buffer, where: EnvelopeLabel): KeyPurpose {
  if (bytes.length < ENVELOPE_OVERHEAD) {
    throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${named(where)}: stored ciphertext is truncated (${bytes.length} bytes); it was not written by Haven or has been damaged`);
  }
  if (bytes[0] !== ENVELOPE_FORMAT_V1) {
    throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${named(where)}: stored bytes are not a Haven envelope (format byte ${bytes[0]}); plaintext or damaged data`);
  }
  const purpose = purposeByCode[bytes[1]!];
  if (!purpose) {
    throw new HavenError('fault', 'CRYPTO_CIPHERTEXT_INVALID', `${named(where)}: stored ciphertext names an unknown key purpose (${bytes[1]})`);
  }
  return purpose;
}

/**
 * Encrypts with a fresh random 96-bit nonce. `key` must be 32 bytes.
 * The envelope is written into one buffer sized up front, and the associated
 * data into another, instead of concatenating parts: this runs for every
 * audited read and write (bench/enc-read-path.ts).
 */
export function sealEnvelope(key: Buffer, h: EnvelopeHeader, plaintext: Buffer, context: Buffer): Buffer {
  const out = Buffer.allocUnsafe(ENVELOPE_OVERHEAD + plaintext.length);
  out[0] = ENVELOPE_FORMAT_V1;
  out[1] = purposeCode[h.purpose];
  out.writeUInt32BE(h.keyVersion, 2);
  const nonce = randomNonce(NONCE_BYTES);
  nonce.copy(out, HEADER_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(out, context));
  let at = HEADER_BYTES + NONCE_BYTES;
  at += cipher.update(plaintext).copy(out, at);
  at += cipher.final().copy(out, at); // empty for GCM, a stream mode
  cipher.getAuthTag().copy(out, at);
  return out;
}

/** Decrypts and authenticates; any mismatch (key, header, context, bytes) is CRYPTO_DECRYPT_FAILED. */
export function openEnvelope(key: Buffer, bytes: Buffer, context: Buffer, where: EnvelopeLabel): Buffer {
  checkHeader(bytes, where);
  const nonce = bytes.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const body = bytes.subarray(HEADER_BYTES + NONCE_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(bytes, context));
    decipher.setAuthTag(tag);
    const plain = decipher.update(body);
    const rest = decipher.final(); // checks the tag; empty for GCM
    return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
  } catch (err) {
    throw new HavenError(
      'fault',
      'CRYPTO_DECRYPT_FAILED',
      `${named(where)}: stored ciphertext failed authentication (tampered, truncated, or moved from another row); no data returned`,
      { cause: err instanceof Error ? err.message : undefined },
    );
  }
}

/** The associated data of an envelope: its header, then the caller's context. */
function associatedData(envelope: Buffer, context: Buffer): Buffer {
  const aad = Buffer.allocUnsafe(HEADER_BYTES + context.length);
  envelope.copy(aad, 0, 0, HEADER_BYTES);
  context.copy(aad, HEADER_BYTES);
  return aad;
}

/**
 * Unambiguous associated data from string parts: each part length-prefixed,
 * so ("a|b", "c") and ("a", "b|c") never produce the same bytes. Written into
 * one buffer sized up front: the same bytes as concatenating length ‖ UTF-8
 * per part, without a buffer per part (every read builds one).
 */
export function contextOf(label: string, parts: (string | number)[]): Buffer {
  const texts = [label];
  let size = 4 + Buffer.byteLength(label, 'utf8');
  for (const part of parts) {
    const text = String(part);
    texts.push(text);
    size += 4 + Buffer.byteLength(text, 'utf8');
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const text of texts) {
    const n = out.write(text, at + 4, 'utf8');
    out.writeUInt32BE(n, at);
    at += 4 + n;
  }
  return out;
}
