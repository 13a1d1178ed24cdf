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
 * while earlier batches were committing. An idle recorder flushes at once, so
 * a lone request pays one commit and no timer.
 */
export function createGroupCommit(options: GroupCommitOptions) {
  const maxInFlight = options.maxInFlight ?? 2;
  const maxBatchRows = options.maxBatchRows ?? 2000;
  let pending: Waiter[] = [];
  let inFlight = 0;
  let batches = 0;

  function take(): Waiter[] {
    let rows = 0;
    let i = 0;
    while (i < pending.length && (i === 0 || rows + pending[i]!.rows.length <= maxBatchRows)) rows += pending[i++]!.rows.length;
    const batch = pending.slice(0, i);
    pending = pending.slice(i);
    return batch;
  }

  function pump(): void {
    while (inFlight < maxInFlight && pending.length > 0) {
      const batch = take();
      inFlight++;
      batches++;
      options
        .flush(batch.flatMap((w) => w.rows))
        .then(
          () => batch.forEach((w) => w.resolve()),
          (err: unknown) => batch.forEach((w) => w.reject(err)),
        )
        .finally(() => {
          inFlight--;
          pump();
        });
    }
  }

  return {
    record(rows: EntryRow[]): Promise<void> {
      if (rows.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        pending.push({ rows, resolve, reject });
        pump();
      });
    },
    /** Batches flushed so far (tests and metrics). */
    get batches() {
      return batches;
    },
  };
}

export type GroupCommit = ReturnType<typeof createGroupCommit>;
