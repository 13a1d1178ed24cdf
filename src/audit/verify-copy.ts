import type pg from 'pg';

/**
 * `COPY (SELECT …) TO STDOUT (FORMAT binary)` through the pg driver's own
 * connection (pg-copy-streams is not a dependency): the server streams rows
 * without per-row protocol round trips, bytea arrives as raw bytes, and no
 * row object is built. Each tuple is handed to `onTuple` synchronously, as
 * views into the received message: while it runs, the event loop reads no
 * more from the socket, so TCP flow control holds the server back and memory
 * stays flat however large the result.
 */

/** Field `i` of the current tuple is `buf[start[i], end[i])`, or NULL when start[i] is -1. */
export interface Tuple {
  buf: Buffer;
  start: Int32Array;
  end: Int32Array;
}

export type TupleHandler = (t: Tuple) => void;

const HEADER = 19; // 11-byte signature, flags, extension length (always 0 from the server)

class TupleParser {
  private pending: Buffer | undefined;
  private headerSeen = false;
  readonly tuple: Tuple;
  constructor(
    fields: number,
    private readonly onTuple: TupleHandler,
  ) {
    this.tuple = { buf: Buffer.alloc(0), start: new Int32Array(fields), end: new Int32Array(fields) };
  }

  push(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let at = 0;
    if (!this.headerSeen) {
      if (buf.length < HEADER) {
        this.pending = Buffer.from(buf);
        return;
      }
      at = HEADER + buf.readInt32BE(15);
      this.headerSeen = true;
    }
    for (;;) {
      const next = this.parseOne(buf, at);
      if (next < 0) break;
      at = next;
    }
    // Rows arrive one per message, so this is rare; a copy keeps the next chunk's view independent.
    if (at < buf.length) this.pending = Buffer.from(buf.subarray(at));
  }

  /** Parses one tuple at `at`; returns the offset after it, or -1 when incomplete or at the trailer. */
  private parseOne(buf: Buffer, at: number): number {
    if (at + 2 > buf.length) return -1;
    const n = buf.readInt16BE(at);
    if (n === -1) return -1; // trailer
    const t = this.tuple;
    let p = at + 2;
    for (let i = 0; i < n; i++) {
      if (p + 4 > buf.length) return -1;
      const len = buf.readInt32BE(p);
      p += 4;
      if (len < 0) {
        t.start[i] = -1;
        t.end[i] = -1;
        continue;
      }
      if (p + len > buf.length) return -1;
      t.start[i] = p;
      t.end[i] = p + len;
      p += len;
    }
    t.buf = buf;
    this.onTuple(t);
    return p;
  }
}

class CopyOut {
  private error: unknown;
  private failure: unknown;
  constructor(
    private readonly text: string,
    private readonly parser: TupleParser,
    private readonly done: (err: unknown) => void,
  ) {}
  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }
  handleCopyData(msg: { chunk: Buffer }): void {
    if (this.failure) return;
    try {
      this.parser.push(msg.chunk);
    } catch (err) {
      // Keep draining the stream (the connection must reach ReadyForQuery) and report afterwards.
      this.failure = err;
    }
  }
  handleError(err: unknown): void {
    this.error = err;
  }
  handleReadyForQuery(): void {
    this.done(this.error ?? this.failure);
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handleCopyInResponse(connection: { sendCopyFail(msg: string): void }): void {
    connection.sendCopyFail('not a COPY FROM');
  }
}

/** Runs `COPY (select) TO STDOUT (FORMAT binary)` and feeds each tuple of `fields` columns to `onTuple`. */
export function copyTuples(client: pg.ClientBase, select: string, fields: number, onTuple: TupleHandler): Promise<void> {
  return new Promise((resolve, reject) => {
    const parser = new TupleParser(fields, onTuple);
    const copy = new CopyOut(`COPY (${select}) TO STDOUT (FORMAT binary)`, parser, (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve()));
    // pg accepts any object with submit(); its types only describe Query.
    (client as unknown as { query(s: object): void }).query(copy);
  });
}

/** A non-negative int8 field as a number (exact below 2^53, which seqs and entry ids stay under). */
export function int8At(buf: Buffer, at: number): number {
  return buf.readUInt32BE(at) * 4_294_967_296 + buf.readUInt32BE(at + 4);
}
