import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { createClientRegistry } from '../../src/auth/index.js';
import { fetchToken } from '../../src/cli/client.js';
import { DEFAULT_TENANT, type TenantId } from '../../src/kernel/index.js';
import type { Queryable } from '../../src/store/index.js';

export interface Manifest {
  transactionTime: string;
  request: string;
  requiresAccessToken: boolean;
  output: { type: string; url: string; count: number }[];
  error: { type: string; url: string; count?: number }[];
}

/** Kick-off; returns the raw response. */
export async function kickoff(fhirUrl: string, token: string | null, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { accept: 'application/fhir+json', prefer: 'respond-async', ...init.headers };
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/fhir+json';
  const res = await fetch(`${fhirUrl}/${path}`, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as any) : undefined };
}

/** Polls as the server asks (Retry-After) until the manifest arrives. */
export async function waitForManifest(statusUrl: string, token: string, timeoutMs = 20_000): Promise<Manifest> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    if (res.status === 200) {
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      return JSON.parse(text) as Manifest;
    }
    assert.ok(res.status === 202 || res.status === 429, `status poll answered ${res.status}: ${text}`);
    if (Date.now() > deadline) throw new Error('export did not finish in time');
    await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? '1') * 1000));
  }
}

/** Downloads one file and parses each NDJSON line. */
export async function download(url: string, token: string): Promise<Record<string, any>[]> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+ndjson' } });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.match(res.headers.get('content-type') ?? '', /^application\/fhir\+ndjson/);
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
}

/** Every resource of every output file, checking each line's type against its entry's. */
export async function downloadAll(m: Manifest, token: string): Promise<Record<string, any>[]> {
  const all: Record<string, any>[] = [];
  for (const out of m.output) {
    const lines = await download(out.url, token);
    assert.equal(lines.length, out.count, `${out.url}: count in the manifest`);
    for (const r of lines) assert.equal(r.resourceType, out.type);
    all.push(...lines);
  }
  return all;
}

/** Runs a whole export and returns its resources. */
export async function exportAll(fhirUrl: string, token: string, path: string, init: Parameters<typeof kickoff>[3] = {}, timeoutMs?: number) {
  const k = await kickoff(fhirUrl, token, path, init);
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const manifest = await waitForManifest(k.headers.get('content-location')!, token, timeoutMs);
  return { manifest, resources: await downloadAll(manifest, token), statusUrl: k.headers.get('content-location')! };
}

/** A second Backend Services client, registered straight in the registry, and a token for it. */
export async function otherClientToken(db: Queryable, baseUrl: string, scope: string, tenant: TenantId = DEFAULT_TENANT): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES384', { extractable: true });
  const clientId = `other-${Math.random().toString(36).slice(2, 10)}`;
  const pub = { ...(await exportJWK(publicKey)), alg: 'ES384', kid: 'k1' };
  await createClientRegistry({ db }).register(tenant, { clientId, name: 'Other', jwks: { keys: [pub] }, scopes: 'system/*.rs system/*.read' });
  const privateJwk = { ...(await exportJWK(privateKey)), alg: 'ES384', kid: 'k1' };
  return (await fetchToken(baseUrl, { clientId, tokenUrl: `${baseUrl}/auth/token`, privateJwk }, scope)).token;
}

export const key = (r: Record<string, any>): string => `${String(r.resourceType)}/${String(r.id)}`;
