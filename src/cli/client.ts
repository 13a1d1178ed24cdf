import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createClientAssertion } from '../auth/index.js';

/** The bootstrap admin credentials written by the server on first start. */
export interface BootstrapCredentials {
  clientId: string;
  tokenUrl: string;
  privateJwk: Record<string, unknown>;
}

export async function readBootstrap(dataDir: string): Promise<BootstrapCredentials> {
  const file = join(resolve(dataDir), 'bootstrap', 'admin-client.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as BootstrapCredentials;
  } catch {
    throw new Error(`No bootstrap credentials at ${file}: start the server once (npm start) or set HAVEN_DATA_DIR`);
  }
}

/** Obtains an access token with SMART Backend Services (private_key_jwt). */
export async function fetchToken(baseUrl: string, creds: BootstrapCredentials, scope: string): Promise<{ token: string; expiresIn: number }> {
  const tokenUrl = `${baseUrl.replace(/\/$/, '')}/auth/token`;
  const assertion = await createClientAssertion({ clientId: creds.clientId, privateJwk: creds.privateJwk, tokenUrl });
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  const body = (await res.json()) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`Token request failed (${res.status}): ${body.error ?? ''} ${body.error_description ?? ''}`.trim());
  return { token: body.access_token, expiresIn: body.expires_in ?? 300 };
}

/** A FHIR client that keeps a fresh token (renewed a minute before expiry). */
export function createFhirClient(baseUrl: string, creds: BootstrapCredentials, scope = 'system/*.cruds') {
  let token: string | undefined;
  let renewAt = 0;
  async function auth(): Promise<string> {
    if (!token || Date.now() > renewAt) {
      const t = await fetchToken(baseUrl, creds, scope);
      token = t.token;
      renewAt = Date.now() + Math.max(10, t.expiresIn - 60) * 1000;
    }
    return token;
  }
  return {
    async request(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
      const res = await fetch(`${baseUrl.replace(/\/$/, '')}/fhir${path}`, {
        method,
        headers: { authorization: `Bearer ${await auth()}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    },
  };
}

export type FhirClient = ReturnType<typeof createFhirClient>;
