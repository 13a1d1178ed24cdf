import { totalmem } from 'node:os';

const MB = 1024 * 1024;
/** PostgreSQL's own default, and the least Haven gives its embedded server. */
export const MIN_SHARED_BUFFERS_MB = 128;
/** Beyond this the operating system's page cache serves the rest as well. */
export const MAX_SHARED_BUFFERS_MB = 2048;

/**
 * The memory this process may use: the machine's, or its control group's
 * limit when that is lower (a container sees the host's `totalmem()`).
 * Node 20 reports an unlimited group as 2^64, later versions as 0 or the
 * machine's memory; all of them lose against `totalmem()` in the minimum.
 */
export function availableMemoryBytes(total = totalmem(), constrained = process.constrainedMemory?.()): number {
  return constrained !== undefined && constrained > 0 ? Math.min(total, constrained) : total;
}

/**
 * `shared_buffers` for the embedded server when the operator sets none: an
 * eighth of the memory, between 128 MB and 2 GB. PostgreSQL's default of
 * 128 MB is sized for any machine; at a million resources the index that
 * token searches read is ~2 GB alone, and with 128 MB the backends spend
 * their time writing dirty pages out to make room (measured in the bench
 * README). An eighth leaves the rest to Haven, the page cache and whatever
 * else the machine runs; the pages are only resident once used.
 */
export function defaultSharedBuffersMb(availableBytes = availableMemoryBytes()): number {
  const eighth = Math.floor(availableBytes / 8 / MB);
  return Math.min(MAX_SHARED_BUFFERS_MB, Math.max(MIN_SHARED_BUFFERS_MB, eighth));
}
