import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { fetchToken, type BootstrapCredentials } from './client.js';
import { createProgress } from './progress.js';

export interface ExportOptions {
  /** `$export`, `Patient/$export` or `Group/ID/$export`. */
  path: string;
  query: [string, string][];
  outDir: string;
}

interface Manifest {
  transactionTime: string;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string }[];
}

/**
 * `haven export`: a Bulk Data client. Kicks off, polls as the server asks
 * (Retry-After), then downloads each file. The files land decrypted where the
 * operator points --out: they leave Haven's protection there, as with any client.
 */
export async function runExport(baseUrl: string, creds: BootstrapCredentials, options: ExportOptions) {
  const token = async () => (await fetchToken(baseUrl, creds, 'system/*.rs')).token;
  let bearer = await token();
  const qs = new URLSearchParams(options.query).toString();
  const kick = await fetch(`${baseUrl}/fhir/${options.path}${qs ? `?${qs}` : ''}`, {
    headers: { authorization: `Bearer ${bearer}`, prefer: 'respond-async', accept: 'application/fhir+json' },
  });
  const kickText = await kick.text();
  if (kick.status !== 202) throw new Error(`Export refused (${kick.status}): ${kickText}`);
  const statusUrl = kick.headers.get('content-location')!;
  const progress = createProgress('export');
  let manifest: Manifest | undefined;
  while (!manifest) {
    const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${bearer}` } });
    const text = await res.text();
    if (res.status === 200) manifest = JSON.parse(text) as Manifest;
    else if (res.status === 401) bearer = await token();
    else if (res.status !== 202 && res.status !== 429) throw new Error(`Export failed (${res.status}): ${text}`);
    else {
      progress.update(0, res.headers.get('x-progress') ?? '');
      await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? '1') * 1000));
    }
  }
  const out = resolve(options.outDir);
  await mkdir(out, { recursive: true, mode: 0o700 });
  const total = manifest.output.reduce((a, o) => a + o.count, 0);
  const files = [...manifest.output.map((o, i) => ({ ...o, name: `${o.type}.${i}.ndjson` })), ...manifest.error.map((e, i) => ({ ...e, count: 0, name: `error.${i}.ndjson` }))];
  const done = createProgress('download', total);
  let resources = 0;
  for (const f of files) {
    const res = await fetch(f.url, { headers: { authorization: `Bearer ${bearer}` } });
    if (res.status !== 200 || !res.body) throw new Error(`Download of ${f.url} failed (${res.status})`);
    await pipeline(Readable.fromWeb(res.body as WebReadableStream), createWriteStream(join(out, f.name), { mode: 0o600 }));
    resources += f.count;
    done.update(resources, f.name);
  }
  done.finish(resources, `${files.length} files in ${out}`);
  return { transactionTime: manifest.transactionTime, files: files.length, resources, statusUrl };
}
