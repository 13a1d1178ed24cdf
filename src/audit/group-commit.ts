import type { EntryRow } from './entry.js';

interface Waiter {
  rows: EntryRow[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface GroupCommitOptions {
  /** Inserts one batch durably (its own transaction). */
  flush: (rows: EntryRow[]) => Promise<void>;
  /** Batches in flight at once: while they commit, newcomers gather into the next batch. */
  maxInFlight?: number;
  maxBatchRows?: number;
}

/**
 * Group commit for read entries: every caller awaits the commit of the batch
 * its entries went into, and one INSERT carries all entries that arrived
 * while earlier batches were committing.
 *
 * A batch is cut at the end of an event-loop turn (setImmediate), not at the
 * first arrival: the reads whose results came back in the same poll phase
 * share one commit instead of the first of them paying a commit alone. Each
 * batch carries a fixed cost (statement, index and queue rows, WAL flush,
 * sequencer rows) that at c16 outweighed the entries themselves. An idle
 * recorder still flushes within the same turn, so a lone request pays no timer.
 */
export function createGroupCommit(options: GroupCommitOptions) {
  const maxInFlight = options.maxInFlight ?? 2;
  const maxBatchRows = options.maxBatchRows ?? 2000;
  let pending: Waiter[] = [];
  let inFlight = 0;
  let batches = 0;
  let scheduled = false;

  function take(): Waiter[] {
    let rows = 0;
    let i = 0;
    while (i < pending.length && (i === 0 || rows + pending[i]!.rows.length <= maxBatchRows)) rows += pending[i++]!.rows.length;
    const batch = pending.slice(0, i);
    pending = pending.slice(i);
    return batch;
  }

  function schedule(): void {
    if (scheduled || inFlight >= maxInFlight) return;
    scheduled = true;
    setImmediate(pump);
  }

  function pump(): void {
    scheduled = false;
    while (inFlight < maxInFlight && pending.length > 0) {
      const batch = take();
      inFlight++;
      batches++;
      // A throwing flush must reject its waiters like a failed one, never strand them.
      new Promise<void>((resolve) => resolve(options.flush(batch.flatMap((w) => w.rows))))
        .then(
          () => batch.forEach((w) => w.resolve()),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          inFlight--;
          schedule();
        });
    }
  }

  return {
    record(rows: EntryRow[]): Promise<void> {
      if (rows.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        pending.push({ rows, resolve, reject });
        schedule();
      });
    },
    /** Batches flushed so far (tests and metrics). */
    get batches() {
      return batches;
    },
  };
}

export type GroupCommit = ReturnType<typeof createGroupCommit>;
