import { createHash } from 'node:crypto';
import { HavenError } from '../kernel/index.js';
import { objectUrl as storeObjectUrl, signedFetch, type S3Location } from '../store/s3-client.js';

/**
 * The few S3 REST calls the audit witness needs (PutObject with Object Lock,
 * GetObject by version, ListObjectVersions), over the store's signed request
 * (src/store/s3-client.ts). No retries here: the sequencer publishes again on
 * its next drain. Failures carry the witness's own error code and an `s3Code`
 * for logs and metrics.
 */
export type S3Target = S3Location;

export interface S3Response {
  status: number;
  body: string;
  headers: Headers;
}

export const objectUrl = storeObjectUrl;

export async function s3Request(t: S3Target, method: string, url: string, body = '', extra: Record<string, string> = {}): Promise<S3Response> {
  try {
    const res = await signedFetch({ ...t, timeoutMs: t.timeoutMs ?? 10_000 }, method, url, body, extra);
    return { status: res.status, body: res.body.toString('utf8'), headers: res.headers };
  } catch (err) {
    const code = (err as Error).name === 'TimeoutError' ? 'Timeout' : 'NetworkError';
    throw Object.assign(new HavenError('unavailable', 'AUDIT_WITNESS_S3_FAILED', `S3 witness ${method} failed: ${code}`, { cause: err }), { s3Code: code });
  }
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
