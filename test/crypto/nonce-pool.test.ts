import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomNonce } from '../../src/crypto/nonce-pool.js';

test('nonces from the pool are never repeated, across refills, and keep their bytes after a refill', () => {
  const seen = new Set<string>();
  const first = randomNonce(12);
  const firstCopy = Buffer.from(first);
  // 4096-byte pool / 12 bytes: several refills.
  for (let i = 0; i < 2000; i++) {
    const n = randomNonce(12);
    assert.equal(n.length, 12);
    const hex = n.toString('hex');
    assert.ok(!seen.has(hex), `nonce ${i} repeated`);
    seen.add(hex);
  }
  assert.ok(!seen.has(firstCopy.toString('hex')));
  assert.deepEqual(first, firstCopy, 'a handed-out nonce is not overwritten by a refill');
});
