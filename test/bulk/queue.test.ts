import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createJobQueue, type JobQueue } from '../../src/store/jobs.js';
import { createTestDb, type TestDb } from '../support/db.js';

/** The durable queue: one owner per task (SKIP LOCKED), leases that lapse, fenced completion. */
let t: TestDb;
let q: JobQueue;
before(async () => {
  t = await createTestDb();
  q = createJobQueue(t.db);
});
after(async () => t.drop());

test('concurrent workers never lease the same task', async () => {
  await q.enqueue(t.db, 'default', 'q1', 'job-a', Array.from({ length: 20 }, (_, i) => ({ seq: i + 1, payload: { n: i } })));
  const leased = await Promise.all(Array.from({ length: 30 }, (_, i) => q.lease('q1', `node-${i}`, 60_000, 3)));
  const ids = leased.filter((x) => x !== undefined).map((x) => x.taskId);
  assert.equal(ids.length, 20);
  assert.equal(new Set(ids).size, 20);
});

test('a lapsed lease is retaken; the old owner can no longer complete or renew', async () => {
  await q.enqueue(t.db, 'default', 'q2', 'job-b', [{ seq: 1, payload: {} }]);
  const first = (await q.lease('q2', 'dead-node', 50, 3))!;
  assert.equal(await q.lease('q2', 'other', 50, 3), undefined);
  await new Promise((r) => setTimeout(r, 120));
  const second = (await q.lease('q2', 'live-node', 60_000, 3))!;
  assert.equal(second.taskId, first.taskId);
  assert.equal(second.attempts, 2);
  assert.equal(await q.renew(first, 60_000, 1), false);
  assert.equal(await q.complete(t.db, first, 1), false);
  assert.equal(await q.complete(t.db, second, 5), true);
  assert.deepEqual(await q.counts('default', 'job-b'), { total: 1, done: 1, failed: 0, progress: 5 });
});

test('a task that fails on every attempt is failed, and counted as exhausted', async () => {
  await q.enqueue(t.db, 'default', 'q3', 'job-c', [{ seq: 1, payload: {} }]);
  for (let i = 0; i < 2; i++) {
    const task = (await q.lease('q3', 'n', 60_000, 2))!;
    await q.fail(task, 2, 'boom');
  }
  assert.equal(await q.lease('q3', 'n', 60_000, 2), undefined);
  assert.equal(await q.exhausted('default', 'job-c', 2), 1);
  assert.equal((await q.counts('default', 'job-c')).failed, 1);
});

test('a failed task waits out its back-off; a released task keeps its attempt', async () => {
  await q.enqueue(t.db, 'default', 'q4', 'job-d', [{ seq: 1, payload: {} }]);
  const first = (await q.lease('q4', 'n', 60_000, 5))!;
  await q.fail(first, 5, 'transient', 300);
  assert.equal(await q.lease('q4', 'n', 60_000, 5), undefined);
  await new Promise((r) => setTimeout(r, 350));
  const second = (await q.lease('q4', 'n', 60_000, 5))!;
  assert.equal(second.attempts, 2);
  await q.release(second);
  const third = (await q.lease(['q4', 'other'], 'n', 60_000, 5))!;
  assert.equal(third.attempts, 2);
});
