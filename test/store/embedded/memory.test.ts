import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableMemoryBytes, defaultSharedBuffersMb, MAX_SHARED_BUFFERS_MB, MIN_SHARED_BUFFERS_MB } from '../../../src/store/embedded/memory.js';

const GB = 1024 ** 3;

test('shared_buffers of the embedded server: an eighth of the memory, within 128 MB and 2 GB', () => {
  assert.equal(defaultSharedBuffersMb(512 * 1024 ** 2), MIN_SHARED_BUFFERS_MB);
  assert.equal(defaultSharedBuffersMb(4 * GB), 512);
  assert.equal(defaultSharedBuffersMb(8 * GB), 1024);
  assert.equal(defaultSharedBuffersMb(24 * GB), MAX_SHARED_BUFFERS_MB);
  assert.equal(defaultSharedBuffersMb(256 * GB), MAX_SHARED_BUFFERS_MB);
});

test('available memory: a control group limit below the machine wins; none, 0 or 2^64 mean the machine', () => {
  assert.equal(availableMemoryBytes(64 * GB, 2 * GB), 2 * GB);
  assert.equal(availableMemoryBytes(64 * GB, 2 ** 64), 64 * GB);
  assert.equal(availableMemoryBytes(64 * GB, 0), 64 * GB);
  assert.equal(availableMemoryBytes(64 * GB, undefined), 64 * GB);
  assert.equal(defaultSharedBuffersMb(availableMemoryBytes(64 * GB, 2 * GB)), 256);
});
