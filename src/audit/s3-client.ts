import { createHash } from 'node:crypto';
import { signV4, type AwsCredentials } from '../crypto/index.js';
import { HavenError } from '../kernel/index.js';

/**
 * The few S3 REST calls the audit witness needs (PutObject with Object Lock,
 * GetObject by version, ListObjectVersions), signed with SigV4 (crypto/aws-sigv4.ts)
 * and sent with fetch: no SDK. Path-style URLs (`<endpoint>/<bucket>/<key>`),
 * which AWS, MinIO, Ceph and the other S3-compatible services accept.
 */
export interface S3Target {
  url: string;
  bucket: string;
  region: string;
  credentials: AwsCredentials;
  timeoutMs?: number;
}

export interface S3Response {
  status: number;
  body: string;
  headers: Headers;
}

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const encodeKey = (key: string) => key.split('/').map(encodeURIComponent).join('/');

export function objectUrl(t: S3Target, key: string, query = ''): string {
  return `${t.url.replace(/\/+$/, '')}/${t.bucket}/${encodeKey(key)}${query ? `?${query}` : ''}`;
}

export async function s3Request(t: S3Target, method: string, url: string, body = '', extra: Record<string, string> = {}): Promise<S3Response> {
  const headers = signV4({ method, url, body, headers: { ...extra, 'x-amz-content-sha256': sha256Hex(body) } }, t.credentials, t.region, 's3');
  let res: Response;
  try {
    res = await fetch(url, { method, headers, ...(method === 'GET' ? {} : { body }), signal: AbortSignal.timeout(t.timeoutMs ?? 10_000) });
  } catch (err) {
    const code = (err as Error).name === 'TimeoutError' ? 'Timeout' : 'NetworkError';
    throw Object.assign(new HavenError('unavailable', 'AUDIT_WITNESS_S3_FAILED', `S3 witness ${method} failed: ${code}`, { cause: err }), { s3Code: code });
  }
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** The S3 error code of an error reply (`<Code>AccessDenied</Code>`), or `HTTP <status>`. */
export function s3ErrorCode(res: S3Response): string {
  return /<Code>([^<]{1,64})<\/Code>/.exec(res.body)?.[1] ?? `HTTP ${res.status}`;
}

export function s3Failure(what: string, res: S3Response): HavenError {
  const code = s3ErrorCode(res);
  return Object.assign(new HavenError('unavailable', 'AUDIT_WITNESS_S3_FAILED', `S3 witness ${what}: ${res.status} ${code}`), { s3Code: code });
}

/** The S3 error code of a failure (AccessDenied, InvalidRequest, Timeout, NetworkError, …), for logs and metrics. */
export function failureCode(err: unknown): string {
  const code = (err as { s3Code?: unknown }).s3Code;
  return typeof code === 'string' ? code : 'Unknown';
}

/**
 * PutObject under Object Lock, COMPLIANCE mode until `retainUntil`. Content-MD5 is required by S3
 * for Object Lock uploads; If-None-Match: * makes the write create-only, so a retry after a lost
 * reply (412: already there) never adds a second version. Returns false when the key existed.
 */
export async function putLocked(t: S3Target, key: string, body: string, retainUntil: Date): Promise<boolean> {
  const res = await s3Request(t, 'PUT', objectUrl(t, key), body, {
    'content-type': 'application/x-ndjson',
    'content-md5': createHash('md5').update(body, 'utf8').digest('base64'),
    'if-none-match': '*',
    'x-amz-object-lock-mode': 'COMPLIANCE',
    'x-amz-object-lock-retain-until-date': retainUntil.toISOString(),
  });
  if (res.status === 200) return true;
  if (res.status === 412) return false;
  throw s3Failure(`PUT ${key}`, res);
}
