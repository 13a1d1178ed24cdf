import { totalmem } from 'node:os';

const MB = 1024 * 1024;
/** PostgreSQL's own default, and the least Haven gives its embedded server. */
export const MIN_SHARED_BUFFERS_MB = 128;
/** The largest size measured here (bench/README.md); the operating system's page cache still holds the rest. */
export const MAX_SHARED_BUFFERS_MB = 2048;

/**
 * The memory this process may use: the machine's, or its control group's
 * limit when that is lower (a container sees the host's `totalmem()`).
 * Node 20 reports an unlimited group as 2^64 (which loses against
 * `totalmem()` in the minimum) and 0 where it knows no limit.
 */
export function availableMemoryBytes(total = totalmem(), constrained = process.constrainedMemory?.()): number {
  return constrained !== undefined && constrained > 0 ? Math.min(total, constrained) : total;
}

/**
 * `shared_buffers` for the embedded server when the operator sets none: an
 * eighth of the memory, between 128 MB and 2 GB. PostgreSQL's default of
 * 128 MB is sized for any machine; at a million resources the index that
 * token searches read is ~2 GB alone, and with 128 MB backends write dirty
 * pages out themselves to make room (bench/README.md, "The embedded
 * server's buffer pool"). An eighth leaves the rest to Haven, the page cache
 * and whatever else the machine runs; pages are only resident once used.
 */
export function defaultSharedBuffersMb(availableBytes = availableMemoryBytes()): number {
  const eighth = Math.floor(availableBytes / 8 / MB);
  return Math.min(MAX_SHARED_BUFFERS_MB, Math.max(MIN_SHARED_BUFFERS_MB, eighth));
}
