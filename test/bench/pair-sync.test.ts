import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPairSync } from '../../bench/pair-sync.js';

test('pair sync: neither party passes a phase before the other has reached it', async () => {
  const pair = createPairSync();
  const passed: string[] = [];
  const first = pair.sync('reads').then(() => passed.push('first'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(passed.length, 0, 'the first party waits alone');
  const second = pair.sync('reads').then(() => passed.push('second'));
  await Promise.all([first, second]);
  assert.deepEqual(passed.sort(), ['first', 'second']);
  // Phases are separate barriers: the next one waits again.
  let late = false;
  const next = pair.sync('ingest').then(() => (late = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(late, false);
  await Promise.all([next, pair.sync('ingest')]);
  assert.equal(late, true);
});

test('pair sync: a failed party releases its waiting partner with the error, and later phases fail at once', async () => {
  const pair = createPairSync();
  const waiting = pair.sync('reads');
  const boom = new Error('server failed to start');
  pair.fail(boom);
  await assert.rejects(waiting, (err) => err === boom);
  await assert.rejects(pair.sync('ingest'), (err) => err === boom);
});
