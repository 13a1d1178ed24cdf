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
 */
const FLAGS = ['--no-concurrent-array-buffer-sweeping'];

let applied = false;

export function tuneRuntime(): void {
  if (applied) return;
  applied = true;
  for (const flag of FLAGS) setFlagsFromString(flag);
}
