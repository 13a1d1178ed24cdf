import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createLocalBlobStore, ephemeralSealer, type BlobSealer } from '../../src/store/blob-store.js';

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

test('a writer holds at most one segment of plaintext, however large a write', async () => {
  // A recording sealer: the plaintext size of every segment sealed.
  const inner = ephemeralSealer();
  const sealed: number[] = [];
  const sealer: BlobSealer = {
    seal: async (t, plaintext, context) => {
      sealed.push(plaintext.length);
      return inner.seal(t, plaintext, context);
    },
    open: inner.open,
  };
  const small = createLocalBlobStore({ dir, sealer, segmentBytes: 1024 });
  const page = lines.join(''); // one export page's lines in one write: about 15 segments' worth
  const w = await small.create('default', 'bulk/j5/1-1.ndjson');
  await w.write(page);
  await w.write(Buffer.from('{"x":1}\n'));
  assert.deepEqual(await w.close(), { bytes: Buffer.byteLength(page) + 8 });
  assert.ok(sealed.length > 10);
  assert.ok(sealed.every((n) => n <= 1024), `segments of ${sealed.join(', ')} plaintext bytes`);
  assert.ok(sealed.slice(0, -1).every((n) => n === 1024), 'every segment but the last is full');
  const parts: Buffer[] = [];
  for await (const b of small.read('default', 'bulk/j5/1-1.ndjson')) parts.push(b);
  assert.equal(Buffer.concat(parts).toString('utf8'), `${page}{"x":1}\n`);
});

test('a write that fills a segment exactly seals it only when more follows', async () => {
  const w = await blobs.create('default', 'bulk/j6/1-1.ndjson');
  const exact = 'a'.repeat(1023) + '\n';
  await w.write(exact);
  await w.write(exact);
  await w.close();
  assert.equal(await text('bulk/j6/1-1.ndjson'), exact + exact);
  const onDisk = readFileSync(join(dir, 'default', 'bulk/j6/1-1.ndjson'));
  const first = 4 + onDisk.readUInt32BE(0);
  assert.equal(4 + onDisk.readUInt32BE(first) + first, onDisk.length, 'two segments, no empty third');
});

test('a segment boundary inside a UTF-8 character: the bytes read back whole', async () => {
  const w = await blobs.create('default', 'bulk/j7/1-1.ndjson');
  const line = `${'a'.repeat(1023)}é€😀\n`; // byte 1023 starts a 2-byte character, so segment 1 ends inside it
  await w.write(line);
  await w.write(line);
  await w.close();
  assert.equal(await text('bulk/j7/1-1.ndjson'), line + line);
});
