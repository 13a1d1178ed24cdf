import { randomFillSync } from 'node:crypto';

/**
 * Fresh random GCM nonces from a buffer filled by the CSPRNG a few kilobytes
 * at a time. On these machines each small randomBytes() call costs ~4 µs (a
 * kernel round trip per call), a third of sealing a 200-byte audit entry;
 * slicing a pre-filled buffer costs nothing. Every byte is handed out once
 * and the buffer is refilled, never reused, so nonces stay as random and as
 * unique as per-call ones (the same reason Node caches bytes for randomUUID).
 * Single-threaded: each worker thread has its own module instance.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

export function randomNonce(bytes: number): Buffer {
  if (offset + bytes > pool.length) {
    // A new buffer, not a refill in place: nonces already handed out are views into the old one.
    pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
    offset = 0;
  }
  const nonce = pool.subarray(offset, offset + bytes);
  offset += bytes;
  return nonce;
}
