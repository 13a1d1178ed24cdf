import { HavenError } from '../kernel/index.js';

/**
 * The stored form of a DEK wrapped by a cloud KMS:
 * format (1) | key reference length (2, big-endian) | key reference (UTF-8) | vendor ciphertext.
 * The key reference names the exact KEK (key ARN, key version, vault key
 * version) so unwrap asks for that key and rotation leaves old wraps readable.
 */
export function packWrapped(format: number, keyRef: string, blob: Buffer): Buffer {
  const ref = Buffer.from(keyRef, 'utf8');
  const head = Buffer.alloc(3);
  head[0] = format;
  head.writeUInt16BE(ref.length, 1);
  return Buffer.concat([head, ref, blob]);
}

export function unpackWrapped(provider: string, format: number, wrapped: Buffer): { keyRef: string; blob: Buffer } {
  const len = wrapped.length >= 3 ? wrapped.readUInt16BE(1) : 0;
  if (wrapped[0] !== format || len === 0 || wrapped.length <= 3 + len) {
    throw new HavenError('fault', 'KMS_UNWRAP_FAILED', `A wrapped data key is not in the ${provider} format`);
  }
  return { keyRef: wrapped.subarray(3, 3 + len).toString('utf8'), blob: wrapped.subarray(3 + len) };
}
