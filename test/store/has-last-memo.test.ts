import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHasLastMemo } from '../../src/store/has-last-memo.js';

const estimate = (code: string, tag = Buffer.from('a1b2', 'hex')) => ({
  sql: 'EXPLAIN (FORMAT JSON) SELECT 1 FROM resource r WHERE r.tenant_id = $1 UNION ALL SELECT 1 FROM idx_token i WHERE i.code = $3 AND i.blind = $4',
  params: ['default', 'Patient', code, tag],
});

test('a choice holds for its time, then the estimate must be made again', () => {
  let now = 1_000;
  const memo = createHasLastMemo({ ttlMs: 30_000, now: () => now });
  assert.equal(memo.get(estimate('x')), undefined, 'nothing known at first');
  memo.remember(estimate('x'), true);
  memo.remember(estimate('y'), false);
  assert.equal(memo.get(estimate('x')), true);
  assert.equal(memo.get(estimate('y')), false, 'a false choice is remembered too');
  now += 29_999;
  assert.equal(memo.get(estimate('x')), true);
  now += 1;
  assert.equal(memo.get(estimate('x')), undefined, 'expired');
  assert.equal(memo.size, 1, 'an expired choice is dropped when met');
});

test('choices are kept apart by every value, blind tags included, and by the statement', () => {
  const memo = createHasLastMemo();
  memo.remember(estimate('x', Buffer.from('01', 'hex')), true);
  assert.equal(memo.get(estimate('x', Buffer.from('02', 'hex'))), undefined, 'another blind tag');
  assert.equal(memo.get(estimate('X', Buffer.from('01', 'hex'))), undefined, 'another code');
  assert.equal(memo.get({ ...estimate('x', Buffer.from('01', 'hex')), params: ['other-tenant', 'Patient', 'x', Buffer.from('01', 'hex')] }), undefined, 'another tenant');
  assert.equal(memo.get({ ...estimate('x', Buffer.from('01', 'hex')), sql: 'EXPLAIN (FORMAT JSON) SELECT 2' }), undefined, 'another statement');
  // A number and the string of its digits are different values.
  memo.remember({ sql: 's', params: [1] }, true);
  assert.equal(memo.get({ sql: 's', params: ['1'] }), undefined);
  // Any parameter a statement may carry keys the memo: arrays, and bigints, which JSON alone cannot encode.
  memo.remember({ sql: 's', params: [[1n, 'a'], 2n] }, false);
  assert.equal(memo.get({ sql: 's', params: [[1n, 'a'], 2n] }), false);
  assert.equal(memo.get({ sql: 's', params: [[1n, 'a'], 3n] }), undefined);
  assert.equal(memo.get(estimate('x', Buffer.from('01', 'hex'))), true);
});

test('the memo is bounded: the oldest choice goes first, and making a choice again renews its place', () => {
  const memo = createHasLastMemo({ maxEntries: 3 });
  for (const c of ['a', 'b', 'c']) memo.remember(estimate(c), true);
  memo.remember(estimate('a'), false);
  memo.remember(estimate('d'), true);
  assert.equal(memo.size, 3);
  assert.equal(memo.get(estimate('b')), undefined, 'b was the oldest');
  assert.equal(memo.get(estimate('a')), false);
  assert.equal(memo.get(estimate('c')), true);
  assert.equal(memo.get(estimate('d')), true);
});
