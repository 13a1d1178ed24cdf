import { setTimeout as sleep } from 'node:timers/promises';
import { HavenError } from '../kernel/index.js';

/**
 * The HTTP client the cloud KMS adapters share: a timeout per attempt, bounded
 * retries with exponential backoff for throttling, 5xx and network failures,
 * and one mapping of failures to KMS error codes. It fails closed: after the
 * last attempt the caller gets KMS_UNAVAILABLE, never a half result.
 *
 * Error messages carry the vendor's error type and message (which name keys
 * and permissions, never key material) but never request headers, so bearer
 * tokens and signatures cannot reach a log.
 */
export interface KmsHttpSettings {
  /** Per attempt (default 5000 ms). */
  timeoutMs?: number;
  /** Retries after the first attempt for 429/5xx/network errors (default 3). */
  retries?: number;
  /** First backoff delay, doubled per retry, with jitter (default 100 ms). */
  backoffMs?: number;
  /**
   * false for calls that create something (a key version): those are retried only when the
   * service said it did not process them (429), never after a timeout or 5xx, which may hide a success.
   */
  idempotent?: boolean;
}

export interface KmsRequest {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export interface KmsResponse {
  status: number;
  json: Record<string, unknown>;
}

/** What a non-retryable vendor answer means; undefined = use the default mapping. */
export type ClientErrorMapper = (res: KmsResponse) => HavenError | 'retry' | undefined;

const MAX_BACKOFF_MS = 2000;

function vendorReason(res: KmsResponse): string {
  const j = res.json;
  const err = j.error;
  const parts: unknown[] = [j.__type, j.message ?? j.Message];
  if (typeof err === 'string') parts.push(err, j.error_description);
  else if (err && typeof err === 'object') {
    const e = err as Record<string, unknown>;
    parts.push(e.status, e.code, e.message); // Google: status is the name, code the number; Azure: code is the name
  }
  if (Array.isArray(j.errors)) parts.push(...(j.errors as unknown[]));
  const text = parts.filter((p) => typeof p === 'string' && p !== '').join(': ');
  return `HTTP ${res.status}${text ? ` ${text.slice(0, 300)}` : ''}`;
}

/** The default meaning of an HTTP failure from a KMS. */
export function kmsHttpError(provider: string, what: string, res: KmsResponse): HavenError {
  const reason = vendorReason(res);
  if (res.status === 401 || res.status === 403) {
    return new HavenError('unavailable', 'KMS_ACCESS_DENIED', `${provider} refused ${what}: ${reason} (check the credentials and the key's permissions)`);
  }
  if (res.status === 404) return new HavenError('fault', 'KMS_KEK_NOT_FOUND', `${provider}: the key for ${what} was not found: ${reason}`);
  if (res.status === 429 || res.status >= 500) return new HavenError('unavailable', 'KMS_UNAVAILABLE', `${provider} ${what} failed: ${reason}`);
  return new HavenError('fault', 'KMS_REQUEST_FAILED', `${provider} ${what} was rejected: ${reason}`);
}

async function attempt(req: KmsRequest, timeoutMs: number): Promise<KmsResponse> {
  const res = await fetch(req.url, { method: req.method, headers: req.headers, body: req.body ?? null, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
    } catch {
      json = {};
    }
  }
  return { status: res.status, json };
}

function delay(settings: KmsHttpSettings, retry: number): Promise<void> {
  const base = (settings.backoffMs ?? 100) * 2 ** retry;
  return sleep(Math.min(MAX_BACKOFF_MS, base / 2 + Math.random() * (base / 2)));
}

/**
 * Sends a request built fresh for every attempt (so signatures carry a current
 * date and tokens are refreshed) and returns the JSON body of a 2xx answer.
 */
export async function callKms(
  provider: string,
  what: string,
  settings: KmsHttpSettings,
  build: () => Promise<KmsRequest>,
  mapError: ClientErrorMapper = () => undefined,
): Promise<Record<string, unknown>> {
  const retries = settings.retries ?? 3;
  let last = '';
  let attempts = 0;
  for (let i = 0; ; i++) {
    if (i > 0) await delay(settings, i - 1);
    let res: KmsResponse;
    attempts++;
    try {
      res = await attempt(await build(), settings.timeoutMs ?? 5000);
    } catch (err) {
      if (err instanceof HavenError) throw err; // from build(): e.g. the token endpoint refused
      last = (err as Error).name === 'TimeoutError' ? 'timed out' : `network error: ${(err as Error).message}`;
      if (i < retries && settings.idempotent !== false) continue;
      break;
    }
    if (res.status >= 200 && res.status < 300) return res.json;
    const mapped = mapError(res);
    const retryable = (mapped === 'retry' || (mapped === undefined && (res.status === 429 || res.status >= 500))) && (settings.idempotent !== false || res.status === 429);
    if (!retryable) throw mapped instanceof HavenError ? mapped : kmsHttpError(provider, what, res);
    last = vendorReason(res);
    if (i >= retries) break;
  }
  throw new HavenError('unavailable', 'KMS_UNAVAILABLE', `${provider} ${what} failed after ${attempts} attempt(s): ${last}`);
}

/** A string field of a vendor answer, or a clear fault when the answer is not what the API documents. */
export function field(provider: string, json: Record<string, unknown>, name: string): string {
  const v = json[name];
  if (typeof v !== 'string' || v === '') throw new HavenError('fault', 'KMS_REQUEST_FAILED', `${provider} answered without '${name}'`);
  return v;
}
