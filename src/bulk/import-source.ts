import { HavenError, isHavenError } from '../kernel/index.js';
import type { BulkSettings } from './model.js';

/**
 * Pulling $import inputs from other HTTP servers ("ping and pull"). Only
 * origins on the allow-list (HAVEN_IMPORT_ALLOWED_ORIGINS) are contacted, no
 * redirect is followed (it could lead off the list), nothing of ours (tokens,
 * cookies) is sent, and bodies are streamed with a byte limit, so an input of
 * any size costs one chunk of memory and a hostile server cannot exhaust it.
 */

const CONNECT_TIMEOUT_MS = 30_000;
/** A server that stops sending mid-file for this long is treated as gone (the task is retried). */
const IDLE_TIMEOUT_MS = 60_000;
const MANIFEST_MAX_BYTES = 2 ** 20;

/** The server refused the input for good (4xx, redirect, too large, not allowed): an error-file entry, not a retry. */
export const inputRefused = (message: string) => new HavenError('incorrect', 'BULK_IMPORT_INPUT_REFUSED', message, { expression: ['input'] });
const fetchFailed = (message: string) => new HavenError('unavailable', 'BULK_IMPORT_FETCH_FAILED', message);
export const isRefusal = (err: unknown) => isHavenError(err) && err.code === 'BULK_IMPORT_INPUT_REFUSED';

function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `url` is http(s) on one of the allowed origins (compared normalised: case, default port). */
export function isAllowedOrigin(allowed: readonly string[], url: string): boolean {
  const origin = originOf(url);
  return origin !== undefined && allowed.some((a) => originOf(a) === origin);
}

async function open(settings: BulkSettings, url: string, ac: AbortController, range?: { from: number; etag: string | undefined }): Promise<Response> {
  if (!isAllowedOrigin(settings.importAllowedOrigins, url)) throw inputRefused(`${originOf(url) ?? 'the input URL'} is not an allowed import origin (HAVEN_IMPORT_ALLOWED_ORIGINS)`);
  const headers: Record<string, string> = { accept: 'application/fhir+ndjson, application/ndjson;q=0.9, */*;q=0.1' };
  if (range) {
    headers.range = `bytes=${range.from}-`;
    // If-Range: the server sends the rest only when the file is still the one we began; else all of it (200).
    if (range.etag && !range.etag.startsWith('W/')) headers['if-range'] = range.etag;
  }
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'manual', signal: ac.signal, headers });
  } catch (err) {
    throw fetchFailed(`fetching ${originOf(url)} failed: ${(err as Error).name}`);
  }
  // Nothing after `from`: a resumed input whose last batch was its end.
  if (res.status === 416 && range) {
    await res.body?.cancel().catch(() => undefined);
    return res;
  }
  const transientStatus = res.status >= 500 || res.status === 408 || res.status === 429;
  if (!res.ok) await res.body?.cancel().catch(() => undefined);
  if (res.status >= 300 && res.status < 400) throw inputRefused(`the input URL answered a redirect (${res.status}); redirects are not followed`);
  if (!res.ok && !transientStatus) throw inputRefused(`the input URL answered HTTP ${res.status}`);
  if (!res.ok || !res.body) throw fetchFailed(`the input URL answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? NaN) + (res.status === 206 ? (range?.from ?? 0) : 0);
  if (declared > settings.importMaxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw inputRefused(`the input is ${declared} bytes, more than HAVEN_IMPORT_MAX_BYTES (${settings.importMaxBytes})`);
  }
  return res;
}

/** Where a pull starts: `from` bytes into the input (a resumed import), with the ETag seen when it began. */
export interface PullOptions {
  max?: number;
  from?: number;
  etag?: string | undefined;
  /**
   * Called once the source answered: its ETag, and the offset the yielded bytes start at: `from`,
   * or 0 when the source's file changed since (a different ETag), so the input must be read anew.
   */
  onOpen?: (info: { etag: string | undefined; from: number }) => void;
}

/** A 206 is only taken if it starts where asked (`Content-Range: bytes FROM-…`). */
function rangeStart(res: Response): number | undefined {
  const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  return res.status === 206 && m ? Number(m[1]) : undefined;
}

/**
 * Streams one input from an allowed server; throws a refusal once more than `max` bytes arrived.
 * With `from`, asks for the rest of the file (Range); a server that ignores ranges sends it all and
 * the first `from` bytes are skipped here, so the caller sees the same bytes either way.
 */
export async function* pullInput(settings: BulkSettings, url: string, options: PullOptions = {}): AsyncGenerator<Uint8Array> {
  const max = options.max ?? settings.importMaxBytes;
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), CONNECT_TIMEOUT_MS);
  try {
    const from = options.from ?? 0;
    const res = await open(settings, url, ac, from > 0 ? { from, etag: options.etag } : undefined);
    const etag = res.headers.get('etag') ?? undefined;
    if (res.status === 416) {
      options.onOpen?.({ etag: options.etag, from });
      return;
    }
    const start = rangeStart(res);
    if (res.status === 206 && start !== from) {
      await res.body?.cancel().catch(() => undefined);
      throw fetchFailed('the input URL answered a range other than the one asked for');
    }
    // A whole file with another ETag than at the start: it changed, its lines no longer line up with our position.
    const changed = start === undefined && from > 0 && options.etag !== undefined && etag !== options.etag;
    const begin = start ?? (changed ? 0 : from);
    options.onOpen?.({ etag, from: begin });
    let bytes = start ?? 0; // offset in the file of the next byte received
    let skip = start === undefined ? begin : 0;
    try {
      for await (const received of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(timer);
        timer = setTimeout(() => ac.abort(), IDLE_TIMEOUT_MS);
        let chunk = received;
        if (skip > 0) {
          const dropped = Math.min(skip, chunk.byteLength);
          skip -= dropped;
          bytes += dropped;
          chunk = chunk.subarray(dropped);
          if (chunk.byteLength === 0) continue;
        }
        if (bytes + chunk.byteLength > max) {
          // The bytes up to the limit still count: their complete lines are imported.
          yield chunk.subarray(0, max - bytes);
          throw inputRefused(`the input is larger than ${max} bytes (HAVEN_IMPORT_MAX_BYTES); the rest was not read`);
        }
        bytes += chunk.byteLength;
        yield chunk;
      }
    } catch (err) {
      if (isHavenError(err)) throw err;
      throw fetchFailed(`reading the input stopped after ${bytes} bytes: ${(err as Error).name}`);
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

/** A Bulk Data export manifest on an allowed server: its `output` entries become the inputs. */
export async function fetchManifest(settings: BulkSettings, url: string): Promise<{ type: string; url: string }[]> {
  const chunks: Uint8Array[] = [];
  for await (const c of pullInput(settings, url, { max: MANIFEST_MAX_BYTES })) chunks.push(c);
  let manifest: { output?: unknown };
  try {
    manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { output?: unknown };
  } catch {
    throw inputRefused('the manifest is not JSON');
  }
  if (!Array.isArray(manifest.output)) throw inputRefused('the manifest has no output array');
  return (manifest.output as { type?: unknown; url?: unknown }[]).map((o) => {
    if (typeof o?.type !== 'string' || typeof o.url !== 'string') throw inputRefused('each manifest output needs a type and a url');
    return { type: o.type, url: new URL(o.url, url).href };
  });
}
