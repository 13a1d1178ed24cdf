import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The HTTP shell every cloud KMS fake shares (test code only): a real
 * node:http server on a free port, plus switches the contract tests use to
 * simulate an outage, throttling, or a service that stops answering.
 */
export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
  json(): Record<string, unknown>;
}

export interface FakeReply {
  status: number;
  json?: unknown;
  headers?: Record<string, string>;
}

export interface FakeFailure {
  /** Answer with this reply instead of serving the request. */
  reply?: FakeReply;
  /** Never answer (the client must time out). */
  hang?: boolean;
}

export interface FakeHttp {
  url: string;
  /** Requests received, including failed ones. */
  calls: number;
  /** Every request fails this way until cleared. */
  outage: FakeFailure | undefined;
  /** The next n requests fail this way (throttling, a blip). */
  failNext(n: number, failure: FakeFailure): void;
  close(): Promise<void>;
}

export const reply = (status: number, json?: unknown, headers?: Record<string, string>): FakeReply => ({ status, ...(json === undefined ? {} : { json }), ...(headers ? { headers } : {}) });

export async function startFakeHttp(handle: (req: FakeRequest) => FakeReply | Promise<FakeReply>): Promise<FakeHttp> {
  const queue: FakeFailure[] = [];
  const hanging = new Set<() => void>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      fake.calls++;
      const failure = fake.outage ?? queue.shift();
      if (failure?.hang) {
        hanging.add(() => res.destroy());
        return;
      }
      const url = new URL(req.url ?? '/', 'http://fake');
      const body = Buffer.concat(chunks).toString('utf8');
      const request: FakeRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
        json: () => (body ? (JSON.parse(body) as Record<string, unknown>) : {}),
      };
      Promise.resolve(failure?.reply ?? handle(request))
        .catch((err: unknown) => reply(500, { message: `fake error: ${(err as Error).message}` }))
        .then((r) => {
          res.writeHead(r.status, { ...(r.json === undefined ? {} : { 'Content-Type': 'application/json' }), ...r.headers });
          res.end(r.json === undefined ? undefined : JSON.stringify(r.json));
        }, () => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: FakeHttp = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: 0,
    outage: undefined,
    failNext(n, failure) {
      for (let i = 0; i < n; i++) queue.push(failure);
    },
    async close() {
      for (const end of hanging) end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
