/**
 * `COPY … FROM STDIN` and `COPY … TO STDOUT` over the pg driver's own
 * connection (pg-copy-streams is not installed): minimal "submittables" that
 * send pre-built copy-data chunks when the server asks for them, or collect
 * the ones it sends. Used only by the physical-limit measurements
 * (bench/limits.ts, bench/hl7v2-copy-limit.ts).
 */
import type pg from 'pg';

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

class CopyFrom {
  rowCount = 0;
  private error: unknown;
  constructor(
    private readonly text: string,
    private readonly chunks: Buffer[],
    private readonly done: (err: unknown, rows: number) => void,
  ) {}
  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: CopyConnection): void {
    for (const chunk of this.chunks) connection.sendCopyFromChunk(chunk);
    connection.endCopyFrom();
  }
  handleCommandComplete(msg: { text?: string }): void {
    this.rowCount = Number(/(\d+)$/.exec(msg.text ?? '')?.[1] ?? 0);
  }
  handleError(err: unknown): void {
    this.error = err;
  }
  handleReadyForQuery(): void {
    this.done(this.error, this.rowCount);
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}
}

/** Runs one COPY FROM STDIN with `chunks` as the data; resolves to the row count. */
export function copyFrom(client: pg.Client, text: string, chunks: Buffer[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const submittable = new CopyFrom(text, chunks, (err, rows) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(rows)));
    // pg accepts any object with submit(); its types only describe Query.
    (client as unknown as { query(s: object): void }).query(submittable);
  });
}

/** Collects the copy-data messages of one COPY … TO STDOUT (one per row in text format). */
class CopyTo {
  readonly chunks: Buffer[] = [];
  private error: unknown;
  constructor(
    private readonly text: string,
    private readonly done: (err: unknown, chunks: Buffer[]) => void,
  ) {}
  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }
  handleCopyData(msg: { chunk: Buffer }): void {
    // A view into the driver's read buffer, which the next socket read reuses: copied out.
    this.chunks.push(Buffer.from(msg.chunk));
  }
  handleError(err: unknown): void {
    this.error = err;
  }
  handleReadyForQuery(): void {
    this.done(this.error, this.chunks);
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handleCopyInResponse(connection: CopyConnection): void {
    connection.sendCopyFail('not a COPY FROM');
  }
}

/** Runs one COPY … TO STDOUT; resolves to its copy-data chunks, in order. */
export function copyTo(client: pg.Client, text: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const submittable = new CopyTo(text, (err, chunks) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(chunks)));
    (client as unknown as { query(s: object): void }).query(submittable);
  });
}

/** COPY text-format field for bytea: hex with the backslash itself escaped. */
export function byteaField(bytes: Buffer): string {
  return `\\\\x${bytes.toString('hex')}`;
}
