/**
 * `COPY … FROM STDIN` over the pg driver's own connection (pg-copy-streams is
 * not installed): a minimal "submittable" that sends pre-built copy-data
 * chunks when the server asks for them. Used only by the physical-limits phase.
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

/** COPY text-format field for bytea: hex with the backslash itself escaped. */
export function byteaField(bytes: Buffer): string {
  return `\\\\x${bytes.toString('hex')}`;
}
