import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EntryRow } from '../../src/audit/entry.js';
import { createGroupCommit } from '../../src/audit/group-commit.js';

const row = (i: number) => ({ canonical: Buffer.from(String(i)), patients: [] }) as unknown as EntryRow;

/** A flush that records each batch's rows and completes when `release` is called. */
function controlledFlush() {
  const batches: EntryRow[][] = [];
  const open: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  return {
    batches,
    flush: (rows: EntryRow[]) =>
      new Promise<void>((resolve, reject) => {
        batches.push(rows);
        open.push({ resolve, reject });
      }),
    release(err?: unknown) {
      const next = open.shift();
      if (err === undefined) next?.resolve();
      else next?.reject(err);
    },
  };
}

const turn = () => new Promise((r) => setImmediate(r));

test('entries recorded within one event-loop turn share one batch (the first arrival does not commit alone)', async () => {
  const f = controlledFlush();
  const group = createGroupCommit({ flush: f.flush, maxInFlight: 2 });
  const waits = Array.from({ length: 5 }, (_, i) => group.record([row(i)]));
  await turn();
  assert.equal(f.batches.length, 1);
  assert.deepEqual(
    f.batches[0]!.map((r) => r.canonical.toString()),
    ['0', '1', '2', '3', '4'],
  );
  f.release();
  await Promise.all(waits);
  assert.equal(group.batches, 1);
});

test('entries arriving while the in-flight limit is reached gather into the next batch; each caller waits for its own batch', async () => {
  const f = controlledFlush();
  const group = createGroupCommit({ flush: f.flush, maxInFlight: 1 });
  let firstDone = false;
  const first = group.record([row(0)]).then(() => (firstDone = true));
  await turn();
  const later = [1, 2, 3].map((i) => group.record([row(i)]));
  let laterDone = 0;
  later.forEach((p) => void p.then(() => laterDone++));
  await turn();
  assert.equal(f.batches.length, 1, 'no second batch while one is in flight');
  f.release();
  await first;
  assert.ok(firstDone);
  await turn();
  assert.equal(laterDone, 0, 'later callers wait for the commit of their own batch');
  assert.equal(f.batches.length, 2);
  assert.deepEqual(
    f.batches[1]!.map((r) => r.canonical.toString()),
    ['1', '2', '3'],
  );
  f.release();
  await Promise.all(later);
});

test('a failing flush rejects every caller of its batch, and the next batch is tried afresh', async () => {
  const f = controlledFlush();
  const group = createGroupCommit({ flush: f.flush });
  const waits = Array.from({ length: 4 }, (_, i) => group.record([row(i)]));
  await turn();
  const failure = new Error('insert failed');
  f.release(failure);
  const outcomes = await Promise.allSettled(waits);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['rejected', 'rejected', 'rejected', 'rejected'],
  );
  for (const o of outcomes) assert.equal((o as PromiseRejectedResult).reason, failure);
  const after = group.record([row(9)]);
  await turn();
  f.release();
  await after;
  assert.equal(group.batches, 2);
});

test('a flush that throws synchronously rejects its callers instead of stranding them', async () => {
  const group = createGroupCommit({
    flush: () => {
      throw new Error('cannot even start');
    },
  });
  const outcomes = await Promise.allSettled([group.record([row(0)]), group.record([row(1)])]);
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ['rejected', 'rejected'],
  );
  // The slot was given back: a later batch is flushed.
  await assert.rejects(group.record([row(2)]), /cannot even start/);
  assert.equal(group.batches, 2);
});

test('batches respect maxBatchRows; a single oversized caller still goes alone', async () => {
  const f = controlledFlush();
  const group = createGroupCommit({ flush: f.flush, maxInFlight: 4, maxBatchRows: 3 });
  const waits = [group.record([row(0), row(1)]), group.record([row(2), row(3)]), group.record([row(4), row(5), row(6), row(7)])];
  await turn();
  assert.deepEqual(
    f.batches.map((b) => b.length),
    [2, 2, 4],
  );
  f.release();
  f.release();
  f.release();
  await Promise.all(waits);
});
