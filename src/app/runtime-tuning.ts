import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings the server process runs with, applied once at start.
 *
 * `--no-concurrent-array-buffer-sweeping`: every read and write makes small
 * Buffers outside the JS heap (a row's bytea from the driver, AES-GCM output,
 * audit leaf hashes), each one a malloc. By default V8 frees the dead ones on
 * a background thread, and that thread and the main thread then contend for
 * glibc malloc's arena lock: futex waits and wake-ups around every scavenge
 * (perf: `__lll_lock_wait_private` under `_int_free`/`_int_malloc`). With the
 * flag the sweep runs on the main thread at the end of the scavenge and takes
 * the lock uncontended; marking and scavenging stay parallel. Measured on the
 * 2-core AMD EPYC VM (bench/v8-flags-ab.ts, 6 ABBA rounds of child processes):
 * AES-256-GCM operations of 256 B-4 KiB per CPU second (bench/crypto.ts)
 * ≈ 50,000 → 84,000-93,000; a 256 KiB blob segment sealed and opened 832 →
 * 1,047 MiB per CPU second; the encrypted read path in process
 * (bench/enc-read-path.ts) 35.5 → 23.7 µs, what encryption adds to it
 * 24.5 → 15.7 µs; the HL7 v2 stages unchanged (ratio 1.009, 10 rounds).
 * The flag is read at every sweep, so setting it after V8 has started takes
 * effect from the next one.
 *
 * `--heap-growing-percent=100`: after each full collection V8 lets the old
 * generation grow by a factor it picks between 1.1 and 4 before the next one;
 * on this 24 GB machine it picked close to 4. An ingest promotes much
 * short-lived garbage (bundles, index rows, statements), so the heap rose to
 * 3-4x its ~45 MB of live objects and the process kept those pages: 240-320
 * MB of RSS through the reads that followed, over the 300 MB the server is
 * held to. bench/server-heap-ab.ts, 1,000 synthetic patients ingested then
 * read at c16, four rounds against the default
 * (bench/results/server-heap-ab-2026-12-01-heap-growing-sweep.json): capped
 * at 2x, peak RSS during the reads 205-207 MB (default 241-315) and Node's CPU
 * per ingested resource and per read unchanged (medians 244 and 321 µs
 * against 241.5 and 328). Capped at 1.5x it was 176-189 MB, but ingest CPU
 * rose to a median of 270 µs: the collector then marks the live heap twice as
 * often. Read at every full collection.
 */
const FLAGS = ['--no-concurrent-array-buffer-sweeping', '--heap-growing-percent=100'];

let applied = false;

export function tuneRuntime(): void {
  if (applied) return;
  applied = true;
  for (const flag of FLAGS) setFlagsFromString(flag);
}
