/**
 * A closed-loop HTTP load generator on node:http with keep-alive sockets
 * (undici is not installed). Every loop is bounded by a deadline and a
 * request count, and only ever targets the benchmark's own server.
 */
import http from 'node:http';
import { createSamples, round, type LatencySummary } from './stats.js';

export interface HttpResult {
  status: number;
  body: string;
}

export interface HttpClient {
  request(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<HttpResult>;
  close(): void;
}

const REQUEST_TIMEOUT_MS = 30_000;

export function createHttpClient(baseUrl: string, token: () => string, maxSockets: number): HttpClient {
  const url = new URL(baseUrl);
  if (url.hostname !== '127.0.0.1') throw new Error(`the benchmark only targets 127.0.0.1, not ${url.hostname}`);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  return {
    request(method, path, body, headers = {}) {
      return new Promise((resolve, reject) => {
        const req = http.request(
          {
            host: url.hostname,
            port: url.port,
            method,
            path,
            agent,
            headers: {
              authorization: `Bearer ${token()}`,
              accept: 'application/fhir+json',
              ...(body === undefined ? {} : { 'content-type': 'application/fhir+json', 'content-length': Buffer.byteLength(body) }),
              ...headers,
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        // Bounds every phase: a request slower than this counts as an error instead of stalling the run.
        req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`timed out after ${REQUEST_TIMEOUT_MS} ms`)));
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}

export interface LoadResult {
  concurrency: number;
  seconds: number;
  requests: number;
  errors: number;
  firstError?: string;
  perSecond: number;
  latency: LatencySummary;
  /** CPU the load generator itself used, as a share of one core: it shares the machine with the server. */
  clientCpuCores: number;
}

export interface LoadSpec {
  client: HttpClient;
  concurrency: number;
  seconds: number;
  maxRequests: number;
  /** The i-th request's path. */
  path: (i: number) => string;
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const samples = createSamples();
  let issued = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + spec.seconds * 1000;
  const cpu = process.cpuUsage();
  async function worker(): Promise<void> {
    while (issued < spec.maxRequests && performance.now() < deadline) {
      const path = spec.path(issued++);
      const t = performance.now();
      try {
        const res = await spec.client.request('GET', path);
        samples.add(performance.now() - t);
        if (res.status !== 200) {
          errors++;
          firstError ??= `${res.status} ${path}: ${res.body.slice(0, 300)}`;
        }
      } catch (err) {
        errors++;
        firstError ??= `${path}: ${String(err)}`;
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const latency = samples.summary();
  return {
    concurrency: spec.concurrency,
    seconds: round(seconds),
    requests: latency.count,
    errors,
    ...(firstError ? { firstError } : {}),
    perSecond: round(latency.count / seconds, 1),
    latency,
    clientCpuCores: round((used.user + used.system) / 1e6 / seconds),
  };
}
