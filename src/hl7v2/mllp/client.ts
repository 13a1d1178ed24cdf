import net from 'node:net';
import tls from 'node:tls';
import { encodeFrame, MllpDecoder } from './framing.js';

export interface MllpClientOptions {
  host: string;
  port: number;
  /** TLS options (server CA, client certificate); plain TCP when absent. */
  tls?: tls.ConnectionOptions;
  /** Largest acknowledgment accepted. */
  maxAckBytes?: number;
}

/** One MLLP connection: send a message, wait for its acknowledgment (one at a time, as the protocol expects). */
export interface MllpClient {
  send(message: Buffer | string, timeoutMs?: number): Promise<string>;
  /** Sends raw bytes (tests: garbage, partial frames). */
  write(bytes: Buffer): void;
  /** The next acknowledgment frame received. */
  nextAck(timeoutMs?: number): Promise<string>;
  readonly closed: Promise<void>;
  close(): void;
}

export async function connectMllp(options: MllpClientOptions): Promise<MllpClient> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = options.tls
      ? tls.connect({ host: options.host, port: options.port, ...options.tls }, () => resolve(s))
      : net.connect({ host: options.host, port: options.port }, () => resolve(s));
    s.once('error', reject);
  });
  socket.setNoDelay(true);
  const decoder = new MllpDecoder(options.maxAckBytes ?? 16 * 1024 * 1024);
  const acks: string[] = [];
  let waiter: { resolve(ack: string): void; reject(err: Error): void } | undefined;
  let failure: Error | undefined;
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  const fail = (err: Error) => {
    failure ??= err;
    waiter?.reject(failure);
    waiter = undefined;
  };
  socket.on('data', (chunk: Buffer) => {
    for (const ev of decoder.push(chunk)) {
      if (ev.kind !== 'frame') continue;
      const text = ev.payload.toString('utf8');
      if (waiter) {
        waiter.resolve(text);
        waiter = undefined;
      } else acks.push(text);
    }
  });
  socket.on('error', (err) => fail(err));
  socket.on('close', () => fail(new Error('MLLP connection closed')));

  function nextAck(timeoutMs = 30_000): Promise<string> {
    const queued = acks.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (failure) return Promise.reject(failure);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiter = undefined;
        reject(new Error(`no acknowledgment within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter = {
        resolve: (a) => (clearTimeout(timer), resolve(a)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  return {
    async send(message, timeoutMs) {
      if (failure) throw failure;
      socket.write(encodeFrame(message));
      return nextAck(timeoutMs);
    },
    write: (bytes) => void socket.write(bytes),
    nextAck,
    closed,
    close: () => void socket.destroy(),
  };
}
