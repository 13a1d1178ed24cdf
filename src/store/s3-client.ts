import { createHash } from 'node:crypto';
import { signV4, type AwsCredentials } from '../crypto/index.js';
import { HavenError } from '../kernel/index.js';

/**
 * Binary PutObject / GetObject against an S3-compatible service, signed with
 * SigV4 (crypto/aws-sigv4.ts) and sent with fetch: no SDK. Path-style URLs
 * (`<endpoint>/<bucket>/<key>`), which AWS, MinIO, Ceph and the other
 * S3-compatible services accept. Used by backups, and by the audit witness
 * through `signedFetch` (src/audit/s3-client.ts adds Object Lock and its own
 * error codes). Backup throttling, 5xx and network errors are retried with
 * back-off; credentials and signatures never appear in errors or logs.
 */
export interface S3Location {
  url: string;
  bucket: string;
  region: string;
  credentials: AwsCredentials;
  timeoutMs?: number;
  /** Attempts after the first for retryable failures (default 3). */
  retries?: number;
}

export interface S3Reply {
  status: number;
  body: Buffer;
  headers: Headers;
}

/** Object keys Haven writes: path segments of letters, digits and `._-`, none `.` or `..` (a URL would resolve them). */
export const S3_KEY = /^(?!(.*\/)?\.{1,2}(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

const encodeKey = (key: string) => key.split('/').map(encodeURIComponent).join('/');

/** Path-style object URL, with an optional query string (`versions`, `versionId=…`). */
export function objectUrl(t: S3Location, key: string, query = ''): string {
  return `${t.url.replace(/\/+$/, '')}/${t.bucket}/${encodeKey(key)}${query ? `?${query}` : ''}`;
}
const retryable = (status: number) => status === 429 || status === 503 || status >= 500;
const s3Code = (body: Buffer) => /<Code>([^<]{1,64})<\/Code>/.exec(body.toString('utf8'))?.[1];

function failure(method: string, key: string, what: string, cause?: unknown): HavenError {
  return new HavenError('unavailable', 'S3_REQUEST_FAILED', `S3 ${method} ${key} failed: ${what}`, cause === undefined ? undefined : { cause });
}

/** One SigV4-signed request, no retry (a fetch failure or time-out rejects with fetch's own error). */
export async function signedFetch(t: S3Location, method: string, url: string, body: Buffer | string = '', extra: Record<string, string> = {}): Promise<S3Reply> {
  const headers = signV4({ method, url, body, headers: { ...extra, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') } }, t.credentials, t.region, 's3');
  const res = await fetch(url, { method, headers, ...(method === 'GET' ? {} : { body }), signal: AbortSignal.timeout(t.timeoutMs ?? 120_000) });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()), headers: res.headers };
}

function once(t: S3Location, method: 'PUT' | 'GET', key: string, body: Buffer, extra: Record<string, string>): Promise<S3Reply> {
  return signedFetch(t, method, objectUrl(t, key), body, extra);
}

async function request(t: S3Location, method: 'PUT' | 'GET', key: string, body: Buffer, extra: Record<string, string> = {}): Promise<S3Reply> {
  if (!S3_KEY.test(key)) throw new HavenError('incorrect', 'S3_KEY_INVALID', `S3 object key ${key} has characters outside [A-Za-z0-9._-/]`);
  const attempts = (t.retries ?? 3) + 1;
  for (let i = 1; ; i++) {
    let reply: S3Reply;
    try {
      reply = await once(t, method, key, body, extra);
    } catch (err) {
      if (i >= attempts) throw failure(method, key, (err as Error).name === 'TimeoutError' ? 'timeout' : 'network error', err);
      await new Promise((r) => setTimeout(r, 200 * 2 ** (i - 1)));
      continue;
    }
    if (!retryable(reply.status) || i >= attempts) return reply;
    await new Promise((r) => setTimeout(r, 200 * 2 ** (i - 1)));
  }
}

/**
 * PutObject. `createOnly` sends If-None-Match: * (S3 conditional write): the
 * call returns false instead of overwriting an existing object.
 */
export async function putObject(t: S3Location, key: string, body: Buffer, options: { createOnly?: boolean; contentType?: string } = {}): Promise<boolean> {
  const res = await request(t, 'PUT', key, body, {
    'content-type': options.contentType ?? 'application/octet-stream',
    ...(options.createOnly ? { 'if-none-match': '*' } : {}),
  });
  if (res.status === 200) return true;
  if (res.status === 412 && options.createOnly) return false;
  throw failure('PUT', key, `${res.status} ${s3Code(res.body) ?? ''}`.trim());
}

/** GetObject; undefined when the key does not exist. */
export async function getObject(t: S3Location, key: string): Promise<Buffer | undefined> {
  const res = await request(t, 'GET', key, Buffer.alloc(0));
  if (res.status === 200) return res.body;
  if (res.status === 404) return undefined;
  throw failure('GET', key, `${res.status} ${s3Code(res.body) ?? ''}`.trim());
}
