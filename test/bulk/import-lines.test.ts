import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_LINE_BYTES, skipBytes, splitLines, type InputLine } from '../../src/bulk/import-lines.js';

/** Line splitting with offsets, the basis of resuming an $import mid-file. */
async function* chunksOf(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function all(lines: AsyncIterable<InputLine>): Promise<InputLine[]> {
  const out: InputLine[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

const text = '{"a":"é"}\n{"b":"日本語"}\n\n{"c":"😀"}';
const bytes = Buffer.from(text);

test('lines, numbers and end offsets are the same whatever the chunking (multi-byte characters split across chunks)', async () => {
  const expected = await all(splitLines(chunksOf(bytes, bytes.length), 0, 0));
  assert.deepEqual(expected.map((l) => l.text), ['{"a":"é"}', '{"b":"日本語"}', '', '{"c":"😀"}']);
  assert.deepEqual(expected.map((l) => l.n), [1, 2, 3, 4]);
  assert.equal(expected.at(-1)!.end, bytes.length);
  for (const l of expected.slice(0, -1)) assert.equal(bytes[l.end - 1], 10, 'an end offset is just after a line break');
  for (const size of [1, 2, 3, 5, 7]) assert.deepEqual(await all(splitLines(chunksOf(bytes, size), 0, 0)), expected, `chunks of ${size}`);
});

test('resuming at a line end (bytes skipped) yields exactly the remaining lines, numbered on', async () => {
  const lines = await all(splitLines(chunksOf(bytes, 4), 0, 0));
  const at = lines[1]!;
  const resumed = await all(splitLines(skipBytes(chunksOf(bytes, 3), at.end), at.end, at.n));
  assert.deepEqual(resumed, lines.slice(2));
});

test('a line longer than the limit is refused', async () => {
  const huge = async function* () {
    for (let i = 0; i <= MAX_LINE_BYTES / 2 ** 20; i++) yield Buffer.alloc(2 ** 20, 0x61);
  };
  await assert.rejects(all(splitLines(huge(), 0, 0)), /BULK_IMPORT_INPUT_REFUSED|longer than/);
});
