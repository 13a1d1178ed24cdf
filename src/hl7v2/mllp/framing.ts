/**
 * MLLP framing (HL7 v2 Minimal Lower Layer Protocol, release 2):
 *   <VT 0x0b> message <FS 0x1c><CR 0x0d>
 * Bytes outside a frame (line noise, keep-alive newlines, a sender's stray
 * bytes) are skipped; a frame longer than the limit is reported once and its
 * remaining bytes dropped up to the next end-of-frame.
 */
export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export type FrameEvent =
  | { kind: 'frame'; payload: Buffer }
  | { kind: 'too-large'; bytes: number }
  /** Bytes received outside any frame (count only; the bytes may be PHI). */
  | { kind: 'garbage'; bytes: number };

export function encodeFrame(payload: Buffer | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = VT;
  body.copy(out, 1);
  out[body.length + 1] = FS;
  out[body.length + 2] = CR;
  return out;
}

/** Incremental decoder: feed socket chunks, get complete frames. */
export class MllpDecoder {
  private chunks: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  private oversized = false;
  private pendingFs = false;
  /** The first bytes of an oversized frame. */
  head: Buffer = Buffer.alloc(0);

  constructor(private readonly maxMessageBytes: number) {}

  /** True while part of a frame has been received but not its end. */
  get partial(): boolean {
    return this.inFrame;
  }

  push(chunk: Buffer): FrameEvent[] {
    const events: FrameEvent[] = [];
    let i = 0;
    let garbage = 0;
    while (i < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(VT, i);
        garbage += (start < 0 ? chunk.length : start) - i;
        if (start < 0) break;
        this.beginFrame();
        i = start + 1;
        continue;
      }
      i = this.consumeFrameBytes(chunk, i, events);
    }
    if (garbage > 0) events.unshift({ kind: 'garbage', bytes: garbage });
    return events;
  }

  private beginFrame(): void {
    this.inFrame = true;
    this.oversized = false;
    this.pendingFs = false;
    this.chunks = [];
    this.size = 0;
    this.head = Buffer.alloc(0);
  }

  /** Reads frame content from `chunk` at `i`; returns where it stopped. */
  private consumeFrameBytes(chunk: Buffer, i: number, events: FrameEvent[]): number {
    if (this.pendingFs) {
      this.pendingFs = false;
      if (chunk[i] === CR) {
        this.endFrame(events);
        return i + 1;
      }
      this.append(Buffer.from([FS])); // an FS not followed by CR is content
    }
    const fs = chunk.indexOf(FS, i);
    const end = fs < 0 ? chunk.length : fs;
    this.append(chunk.subarray(i, end));
    if (fs < 0) return chunk.length;
    if (fs + 1 >= chunk.length) {
      this.pendingFs = true; // the CR may come in the next chunk
      return chunk.length;
    }
    if (chunk[fs + 1] === CR) {
      this.endFrame(events);
      return fs + 2;
    }
    this.append(chunk.subarray(fs, fs + 1));
    return fs + 1;
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    this.size += part.length;
    if (this.oversized) return;
    if (this.size > this.maxMessageBytes) {
      this.oversized = true;
      // Keep the start: the MSH names the sender and control id the NAK answers.
      this.head = Buffer.concat([...this.chunks, part]).subarray(0, 2048);
      this.chunks = [];
      return;
    }
    // Copy: the socket may reuse its buffer.
    this.chunks.push(Buffer.from(part));
  }

  private endFrame(events: FrameEvent[]): void {
    this.inFrame = false;
    if (this.oversized) events.push({ kind: 'too-large', bytes: this.size });
    else events.push({ kind: 'frame', payload: this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size) });
    this.chunks = [];
    this.size = 0;
  }

  /** Bytes of the frame being received (for the size limit while it streams in). */
  get currentBytes(): number {
    return this.size;
  }

  get currentOversized(): boolean {
    return this.oversized;
  }
}
