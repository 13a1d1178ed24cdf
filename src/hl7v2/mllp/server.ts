import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../kernel/index.js';
import { encodeFrame, MllpDecoder } from './framing.js';

export interface ConnectionInfo {
  remoteAddress: string;
  /** Subject CN of the client certificate (TLS with client certificates). */
  clientCertificate?: string;
}

export interface FrameOutcome {
  /** The acknowledgment to send; none when the sender asked for none. */
  ack?: string;
  /** Work that must finish before this connection's next message (enhanced mode processing). */
  pending?: Promise<void>;
}

export interface MllpServerOptions {
  host: string;
  /** 0 = a free port. */
  port: number;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  /** TLS; with `ca`, clients must present a certificate signed by it. */
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  handle(frame: Buffer, conn: ConnectionInfo): Promise<FrameOutcome>;
  /** The NAK for a frame over the size limit, from its first bytes. */
  tooLarge(head: Buffer, bytes: number, conn: ConnectionInfo): string;
  logger: Logger;
}

export interface MllpServer {
  listen(): Promise<{ host: string; port: number }>;
  /** Stops accepting; lets each connection finish its current message, then closes it. */
  close(graceMs?: number): Promise<void>;
  connectionCount(): number;
}

interface Connection {
  socket: net.Socket;
  info: ConnectionInfo;
  queue: ({ frame: Buffer } | { nak: string })[];
  busy: boolean;
  closing: boolean;
}

export function createMllpServer(options: MllpServerOptions): MllpServer {
  const { logger } = options;
  const connections = new Set<Connection>();
  let stopping = false;

  function finish(conn: Connection): void {
    if (conn.busy || conn.queue.length > 0) return;
    if (conn.closing || stopping) {
      conn.socket.end();
      setTimeout(() => conn.socket.destroy(), 1000).unref();
      return;
    }
    conn.socket.resume();
  }

  async function drain(conn: Connection): Promise<void> {
    conn.busy = true;
    conn.socket.pause(); // back-pressure: one message at a time per connection, as MLLP senders expect
    try {
      while (conn.queue.length > 0 && !conn.socket.destroyed) {
        const item = conn.queue.shift()!;
        const outcome = 'nak' in item ? { ack: item.nak } : await options.handle(item.frame, conn.info);
        if (outcome.ack !== undefined && !conn.socket.destroyed) conn.socket.write(encodeFrame(outcome.ack));
        if (outcome.pending) await outcome.pending;
      }
    } catch (err) {
      // No ACK: the sender times out and resends; the message store deduplicates.
      // The class and, for a database error, its SQLSTATE: enough to diagnose, never message content.
      const code = (err as { code?: unknown } | null)?.code;
      logger.error({ err: err instanceof Error ? err.name : typeof err, ...(typeof code === 'string' ? { code } : {}), remote: conn.info.remoteAddress }, 'MLLP message handling failed; connection closed without ACK');
      conn.socket.destroy();
    } finally {
      conn.busy = false;
      if (!conn.socket.destroyed) finish(conn);
    }
  }

  function onData(conn: Connection, decoder: MllpDecoder, chunk: Buffer): void {
    if (conn.closing) return;
    for (const ev of decoder.push(chunk)) {
      if (ev.kind === 'frame') conn.queue.push({ frame: ev.payload });
      else if (ev.kind === 'garbage') logger.debug({ bytes: ev.bytes, remote: conn.info.remoteAddress }, 'MLLP: bytes outside a frame skipped');
    }
    if (decoder.currentOversized) {
      // Refuse at once rather than buffer an unbounded frame: NAK after the queued messages, then close.
      conn.closing = true;
      conn.queue.push({ nak: options.tooLarge(decoder.head, decoder.currentBytes, conn.info) });
    }
    if (!conn.busy && conn.queue.length > 0) void drain(conn);
  }

  function accept(socket: net.Socket): void {
    if (stopping) {
      socket.destroy();
      return;
    }
    const peer = socket instanceof tls.TLSSocket ? socket.getPeerCertificate() : undefined;
    const cn = peer && typeof peer.subject?.CN === 'string' ? peer.subject.CN : undefined;
    const conn: Connection = {
      socket,
      info: { remoteAddress: socket.remoteAddress ?? 'unknown', ...(cn ? { clientCertificate: cn } : {}) },
      queue: [],
      busy: false,
      closing: false,
    };
    connections.add(conn);
    const decoder = new MllpDecoder(options.maxMessageBytes);
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs);
    socket.on('timeout', () => {
      if (conn.busy) return; // a slow message is not idleness
      logger.debug({ remote: conn.info.remoteAddress }, 'MLLP: idle connection closed');
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
    socket.on('data', (chunk: Buffer) => onData(conn, decoder, chunk));
    socket.on('error', (err) => logger.debug({ err: err.name, remote: conn.info.remoteAddress }, 'MLLP socket error'));
    socket.on('close', () => connections.delete(conn));
  }

  const server = options.tls
    ? tls.createServer(
        { cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2', ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) },
        accept,
      )
    : net.createServer(accept);
  server.on('tlsClientError', (err: Error) => logger.warn({ err: err.name }, 'MLLP TLS handshake failed'));

  return {
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          const addr = server.address() as net.AddressInfo;
          resolve({ host: addr.address, port: addr.port });
        });
      });
    },
    async close(graceMs = 10_000) {
      stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const conn of connections) if (!conn.busy && conn.queue.length === 0) conn.socket.end();
      const force = setTimeout(() => {
        for (const conn of connections) conn.socket.destroy();
      }, graceMs);
      force.unref();
      await closed;
      clearTimeout(force);
    },
    connectionCount: () => connections.size,
  };
}
