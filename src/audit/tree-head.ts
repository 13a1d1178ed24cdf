import { createPublicKey, hash, sign, verify, type KeyObject } from 'node:crypto';
import type { Queryable } from '../store/index.js';

/** A signed tree head as published (witness file, API). Hashes and signature in base64. */
export interface SignedTreeHead {
  treeSize: number;
  rootHash: string;
  timestampMs: number;
  keyId: string;
  signature: string;
}

const DOMAIN = Buffer.from('haven-audit-sth-v1\0', 'utf8');

/**
 * The signed bytes: a domain tag, then tree size and timestamp as 64-bit
 * big-endian integers, then the 32-byte root (the fields of RFC 9162's
 * TreeHeadSignature that apply; docs/security/audit.md).
 */
export function treeHeadMessage(treeSize: number, timestampMs: number, root: Buffer): Buffer {
  const nums = Buffer.alloc(16);
  nums.writeBigUInt64BE(BigInt(treeSize), 0);
  nums.writeBigUInt64BE(BigInt(timestampMs), 8);
  return Buffer.concat([DOMAIN, nums, root]);
}

export interface AuditSigningKey {
  keyId: string;
  publicKey: KeyObject;
  /** Raw 32-byte Ed25519 public key. */
  publicRaw: Buffer;
  /** Held only by the leader for its term (unwrapped from the KMS; signing-key.ts). */
  privateKey?: KeyObject;
}

// SPKI DER of an Ed25519 key is a fixed 12-byte prefix plus the raw key.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

/** The raw 32-byte form of an Ed25519 public key. */
export function rawPublicKey(publicKey: KeyObject): Buffer {
  return publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
}

export function keyIdOf(publicRaw: Buffer): string {
  return hash('sha256', publicRaw, 'hex').slice(0, 16);
}

export function signTreeHead(key: AuditSigningKey, treeSize: number, timestampMs: number, root: Buffer): SignedTreeHead {
  const signature = sign(null, treeHeadMessage(treeSize, timestampMs, root), key.privateKey!);
  return { treeSize, rootHash: root.toString('base64'), timestampMs, keyId: key.keyId, signature: signature.toString('base64') };
}

export function verifyTreeHead(head: SignedTreeHead, publicKey: KeyObject): boolean {
  const message = treeHeadMessage(head.treeSize, head.timestampMs, Buffer.from(head.rootHash, 'base64'));
  return verify(null, message, publicKey, Buffer.from(head.signature, 'base64'));
}

/** Public keys by id, for verification (never loads private keys). */
export async function loadPublicKeys(q: Queryable): Promise<Map<string, Buffer>> {
  const res = await q.query<{ key_id: string; public_key: Buffer }>('SELECT key_id, public_key FROM audit_signing_key');
  return new Map(res.rows.map((r) => [r.key_id, r.public_key]));
}
