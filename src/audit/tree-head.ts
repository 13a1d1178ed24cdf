import { createPrivateKey, createPublicKey, generateKeyPairSync, hash, sign, verify, type KeyObject } from 'node:crypto';
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
  privateKey?: KeyObject;
}

// SPKI DER of an Ed25519 key is a fixed 12-byte prefix plus the raw key.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
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

/** The newest signing key, created on first use (several nodes racing create one key each; the oldest wins). */
export async function loadOrCreateSigningKey(q: Queryable): Promise<AuditSigningKey> {
  const existing = await newestKey(q);
  if (existing) return existing;
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicRaw = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  await q.query('INSERT INTO audit_signing_key (key_id, public_key, private_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [keyIdOf(publicRaw), publicRaw, der]);
  return (await newestKey(q))!;
}

async function newestKey(q: Queryable): Promise<AuditSigningKey | undefined> {
  const res = await q.query<{ key_id: string; public_key: Buffer; private_key: Buffer }>(
    'SELECT key_id, public_key, private_key FROM audit_signing_key ORDER BY created_at, key_id LIMIT 1',
  );
  const row = res.rows[0];
  if (!row) return undefined;
  return {
    keyId: row.key_id,
    publicRaw: row.public_key,
    publicKey: publicKeyFromRaw(row.public_key),
    privateKey: createPrivateKey({ key: row.private_key, format: 'der', type: 'pkcs8' }),
  };
}

/** Public keys by id, for verification (never loads private keys). */
export async function loadPublicKeys(q: Queryable): Promise<Map<string, Buffer>> {
  const res = await q.query<{ key_id: string; public_key: Buffer }>('SELECT key_id, public_key FROM audit_signing_key');
  return new Map(res.rows.map((r) => [r.key_id, r.public_key]));
}
