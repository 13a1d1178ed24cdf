import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createLocalBlobStore, ephemeralSealer } from '../../src/store/blob-store.js';

/** The blob store: streamed segments, encrypted before disk, bound to their name and order. */
const dir = mkdtempSync(join(tmpdir(), 'haven-blobs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const blobs = createLocalBlobStore({ dir, sealer: ephemeralSealer(), segmentBytes: 1024 });

async function text(name: string): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of blobs.read('default', name)) parts.push(b);
  return Buffer.concat(parts).toString('utf8');
}

async function put(name: string, lines: string[]): Promise<void> {
  const w = await blobs.create('default', name);
  for (const l of lines) await w.write(l);
  await w.close();
}

const lines = Array.from({ length: 200 }, (_, i) => `{"resourceType":"Patient","id":"p${i}","name":[{"family":"SECRET-NAME-${i}"}]}\n`);

test('round trip over many segments; nothing readable on disk, no partial left', async () => {
  await put('bulk/j1/1-1.ndjson', lines);
  assert.equal(await text('bulk/j1/1-1.ndjson'), lines.join(''));
  const onDisk = readFileSync(join(dir, 'default', 'bulk/j1/1-1.ndjson'));
  assert.ok(!onDisk.includes('SECRET-NAME'));
  assert.ok(!onDisk.includes('resourceType'));
  assert.deepEqual(readdirSync(join(dir, 'default', 'bulk/j1')), ['1-1.ndjson']);
});

test('a rewrite replaces the blob whole; an aborted write leaves nothing', async () => {
  await put('bulk/j2/1-1.ndjson', lines);
  await put('bulk/j2/1-1.ndjson', ['{"x":1}\n']);
  assert.equal(await text('bulk/j2/1-1.ndjson'), '{"x":1}\n');
  const w = await blobs.create('default', 'bulk/j2/2-1.ndjson');
  await w.write(lines.join(''));
  await w.abort();
  assert.deepEqual(readdirSync(join(dir, 'default', 'bulk/j2')), ['1-1.ndjson']);
});

test('tampering, truncation and moving a blob are all detected', async () => {
  await put('bulk/j3/1-1.ndjson', lines);
  const path = join(dir, 'default', 'bulk/j3/1-1.ndjson');
  const original = readFileSync(path);
  const flipped = Buffer.from(original);
  flipped[100] = flipped[100]! ^ 1;
  writeFileSync(path, flipped);
  await assert.rejects(text('bulk/j3/1-1.ndjson'), { code: 'CRYPTO_DECRYPT_FAILED' });
  writeFileSync(path, original);
  const firstSegment = 4 + original.readUInt32BE(0);
  truncateSync(path, firstSegment); // drop every segment after the first
  await assert.rejects(text('bulk/j3/1-1.ndjson'), { code: 'CRYPTO_DECRYPT_FAILED' });
  writeFileSync(path, original);
  renameSync(path, join(dir, 'default', 'bulk/j3/2-1.ndjson'));
  await assert.rejects(text('bulk/j3/2-1.ndjson'), { code: 'CRYPTO_DECRYPT_FAILED' });
  assert.ok(statSync(join(dir, 'default', 'bulk/j3/2-1.ndjson')).size > 0);
  await assert.rejects(text('bulk/j3/1-1.ndjson'), { code: 'BLOB_NOT_FOUND' });
});

test('deletePrefix removes a job folder; names are checked', async () => {
  await put('bulk/j4/1-1.ndjson', lines);
  await blobs.deletePrefix('default', 'bulk/j4');
  assert.equal(await blobs.exists('default', 'bulk/j4/1-1.ndjson'), false);
  await assert.rejects(blobs.create('default', '../escape'), { code: 'BLOB_NAME_INVALID' });
});
