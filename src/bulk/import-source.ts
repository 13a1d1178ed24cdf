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

async function open(settings: BulkSettings, url: string, ac: AbortController): Promise<Response> {
  if (!isAllowedOrigin(settings.importAllowedOrigins, url)) throw inputRefused(`${originOf(url) ?? 'the input URL'} is not an allowed import origin (HAVEN_IMPORT_ALLOWED_ORIGINS)`);
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'manual', signal: ac.signal, headers: { accept: 'application/fhir+ndjson, application/ndjson;q=0.9, */*;q=0.1' } });
  } catch (err) {
    throw fetchFailed(`fetching ${originOf(url)} failed: ${(err as Error).name}`);
  }
  const transientStatus = res.status >= 500 || res.status === 408 || res.status === 429;
  if (!res.ok) await res.body?.cancel().catch(() => undefined);
  if (res.status >= 300 && res.status < 400) throw inputRefused(`the input URL answered a redirect (${res.status}); redirects are not followed`);
  if (!res.ok && !transientStatus) throw inputRefused(`the input URL answered HTTP ${res.status}`);
  if (!res.ok || !res.body) throw fetchFailed(`the input URL answered HTTP ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > settings.importMaxBytes) {
    await res.body.cancel().catch(() => undefined);
    throw inputRefused(`the input is ${declared} bytes, more than HAVEN_IMPORT_MAX_BYTES (${settings.importMaxBytes})`);
  }
  return res;
}

/** Streams one input from an allowed server; throws a refusal once more than `max` bytes arrived. */
export async function* pullInput(settings: BulkSettings, url: string, max = settings.importMaxBytes): AsyncGenerator<Uint8Array> {
  const ac = new AbortController();
  let timer = setTimeout(() => ac.abort(), CONNECT_TIMEOUT_MS);
  try {
    const res = await open(settings, url, ac);
    let bytes = 0;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(timer);
        timer = setTimeout(() => ac.abort(), IDLE_TIMEOUT_MS);
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
  for await (const c of pullInput(settings, url, MANIFEST_MAX_BYTES)) chunks.push(c);
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
