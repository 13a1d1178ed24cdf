import { inputRefused } from './import-source.js';

/** Longest NDJSON line accepted (bytes): a file without line breaks must not fill the memory. */
export const MAX_LINE_BYTES = 32 * 2 ** 20;

export interface InputLine {
  /** Line number in the input (1-based). */
  n: number;
  text: string;
  /** Offset in the input just after this line (and its line break): where a resumed import starts. */
  end: number;
}

/**
 * Cuts a byte stream into lines at '\n', tracking each line's end offset so an
 * import can record exactly where it stands. Splitting bytes rather than
 * decoded text is safe: in UTF-8 the byte 0x0A never occurs inside a multi-byte
 * character. `offset` and `line` are where the stream starts in the input.
 */
export async function* splitLines(chunks: AsyncIterable<Uint8Array>, offset: number, line: number): AsyncGenerator<InputLine> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const chunk of chunks) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let from = 0;
    for (let nl = buf.indexOf(10, from); nl >= 0; nl = buf.indexOf(10, from)) {
      const piece = buf.subarray(from, nl);
      const text = pendingBytes === 0 ? piece.toString('utf8') : Buffer.concat([...pending, piece]).toString('utf8');
      offset += pendingBytes + piece.byteLength + 1;
      pending = [];
      pendingBytes = 0;
      from = nl + 1;
      yield { n: ++line, text, end: offset };
    }
    if (from < buf.byteLength) {
      // Copied: the source may reuse its buffer for the next chunk.
      pending.push(Buffer.from(buf.subarray(from)));
      pendingBytes += buf.byteLength - from;
      if (pendingBytes > MAX_LINE_BYTES) throw inputRefused(`line ${line + 1} is longer than ${MAX_LINE_BYTES} bytes`);
    }
  }
  if (pendingBytes > 0) yield { n: ++line, text: Buffer.concat(pending).toString('utf8'), end: offset + pendingBytes };
}

/** The bytes of `chunks` after the first `skip` (a resumed import of a source that cannot seek). */
export async function* skipBytes(chunks: AsyncIterable<Uint8Array>, skip: number): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    if (skip >= chunk.byteLength) {
      skip -= chunk.byteLength;
      continue;
    }
    yield skip > 0 ? chunk.subarray(skip) : chunk;
    skip = 0;
  }
}
