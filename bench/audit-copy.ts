/**
 * Streaming `COPY … FROM STDIN (FORMAT binary)` over the pg driver's own
 * connection (pg-copy-streams is not installed), for the audit-log fixture.
 * Unlike bench/copy-in.ts the data is produced while the server ingests it:
 * `write` waits for the socket to drain, so memory stays flat however many
 * rows are sent.
 */
import type pg from 'pg';

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  stream: NodeJS.WritableStream & { writableLength: number };
}

const HIGH_WATER = 4 << 20;

class CopyIn {
  private connection: CopyConnection | undefined;
  private ready!: () => void;
  private error: unknown;
  readonly started: Promise<void>;
  constructor(
    private readonly text: string,
    private readonly done: (err: unknown) => void,
  ) {
    this.started = new Promise((resolve) => (this.ready = resolve));
  }
  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: CopyConnection): void {
    this.connection = connection;
    this.ready();
  }
  async write(chunk: Buffer): Promise<void> {
    if (this.error) throw this.error instanceof Error ? this.error : new Error(String(this.error));
    const c = this.connection!;
    c.sendCopyFromChunk(chunk);
    if (c.stream.writableLength > HIGH_WATER) await new Promise((r) => c.stream.once('drain', r));
  }
  end(): void {
    this.connection!.endCopyFrom();
  }
  handleCommandComplete(): void {}
  handleError(err: unknown): void {
    this.error = err;
    this.ready();
  }
  handleReadyForQuery(): void {
    this.done(this.error);
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}
}

export interface CopyWriter {
  write(chunk: Buffer): Promise<void>;
  /** Ends the COPY and resolves when the server has committed the statement. */
  finish(): Promise<void>;
}

/** Starts `COPY table (…) FROM STDIN (FORMAT binary…)` on `client`; the caller writes encoded tuples. */
export async function copyIn(client: pg.Client | pg.PoolClient, text: string): Promise<CopyWriter> {
  let settle!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => (settle = (err) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve())));
  finished.catch(() => undefined); // surfaced by finish() or the next write
  const copy = new CopyIn(text, settle);
  // pg accepts any object with submit(); its types only describe Query.
  (client as unknown as { query(s: object): void }).query(copy);
  await copy.started;
  await copy.write(SIGNATURE);
  return {
    write: (chunk) => copy.write(chunk),
    async finish() {
      await copy.write(Buffer.from([0xff, 0xff])); // file trailer: a tuple of -1 fields
      copy.end();
      await finished;
    },
  };
}

// PGCOPY signature, flags (no OIDs), header extension length 0.
const SIGNATURE = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const TEXT_OID = 25;
const BYTEA_OID = 17;

/** Appends binary-COPY tuples into one growing buffer; `take()` hands over what is ready. */
export class TupleEncoder {
  private buf = Buffer.allocUnsafe(1 << 20);
  private at = 0;

  get length(): number {
    return this.at;
  }
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  tuple(fields: number): this {
    this.room(2);
    this.at = this.buf.writeInt16BE(fields, this.at);
    return this;
  }
  int4(v: number): this {
    this.room(8);
    this.at = this.buf.writeInt32BE(4, this.at);
    this.at = this.buf.writeInt32BE(v, this.at);
    return this;
  }
  int8(v: number): this {
    this.room(12);
    this.at = this.buf.writeInt32BE(8, this.at);
    this.at = this.buf.writeBigInt64BE(BigInt(v), this.at);
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(4 + b.length);
    this.at = this.buf.writeInt32BE(b.length, this.at);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }
  text(s: string): this {
    const n = Buffer.byteLength(s);
    this.room(4 + n);
    this.at = this.buf.writeInt32BE(n, this.at);
    this.at += this.buf.write(s, this.at);
    return this;
  }
  uuid(s: string): this {
    return this.bytes(Buffer.from(s.replace(/-/g, ''), 'hex'));
  }
  /** timestamptz: microseconds since 2000-01-01 UTC. */
  timestamp(ms: number): this {
    this.room(12);
    this.at = this.buf.writeInt32BE(8, this.at);
    this.at = this.buf.writeBigInt64BE(BigInt(ms - PG_EPOCH_MS) * 1000n, this.at);
    return this;
  }
  /** text[] with one dimension (or none when empty), no NULL elements. */
  textArray(items: string[]): this {
    return this.array(TEXT_OID, items.map((s) => Buffer.from(s, 'utf8')));
  }
  /** bytea[] with one dimension (or none when empty), no NULL elements. */
  byteaArray(items: Uint8Array[]): this {
    return this.array(BYTEA_OID, items);
  }
  private array(oid: number, parts: Uint8Array[]): this {
    const size = 12 + (parts.length > 0 ? 8 : 0) + parts.reduce((n, p) => n + 4 + p.length, 0);
    this.room(4 + size);
    this.at = this.buf.writeInt32BE(size, this.at);
    this.at = this.buf.writeInt32BE(parts.length > 0 ? 1 : 0, this.at);
    this.at = this.buf.writeInt32BE(0, this.at);
    this.at = this.buf.writeInt32BE(oid, this.at);
    if (parts.length > 0) {
      this.at = this.buf.writeInt32BE(parts.length, this.at);
      this.at = this.buf.writeInt32BE(1, this.at);
    }
    for (const p of parts) this.bytes(p);
    return this;
  }
  /** The encoded tuples so far (a copy), and a fresh start. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.at));
    this.at = 0;
    return out;
  }
}
