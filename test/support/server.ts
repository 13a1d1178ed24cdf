import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/app/build.js';
import { loadConfig } from '../../src/config/index.js';
import { DEFAULT_TENANT, silentLogger } from '../../src/kernel/index.js';
import { ensureBootstrapClient } from '../../src/auth/index.js';
import { fetchToken, readBootstrap } from '../../src/cli/client.js';
import { createTestDb, type TestDb } from './db.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestServer {
  baseUrl: string;
  /** Where the server itself listens (`http://127.0.0.1:<port>`): baseUrl's origin unless `publicOrigin` put a proxy in front. */
  listenOrigin: string;
  fhirUrl: string;
  dataDir: string;
  testDb: TestDb;
  /** Obtains a token for the bootstrap admin client with the given scopes. */
  token(scope?: string): Promise<string>;
  /** fetch against the FHIR base with a token (admin by default). */
  fhir(path: string, init?: RequestInit & { token?: string | null; json?: unknown }): Promise<{ status: number; headers: Headers; body: any }>;
  close(): Promise<void>;
}

/** A real Haven HTTP server on a throwaway database, listening on a free loopback port. */
/**
 * `options.basePath` (e.g. '/haven'): the server's public base URL has that path, as behind a reverse proxy at a prefix.
 * `options.publicOrigin`: the public base URL's origin is that (a reverse proxy the test runs), not the server's own.
 */
export async function startTestServer(env: Record<string, string> = {}, options: { basePath?: string; publicOrigin?: string } = {}): Promise<TestServer> {
  const testDb = await createTestDb();
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-http-'));
  const port = await freePort();
  const config = loadConfig({ HAVEN_PORT: String(port), HAVEN_DATA_DIR: dataDir, ...env });
  const listenOrigin = `http://127.0.0.1:${port}`;
  const baseUrl = `${options.publicOrigin ?? listenOrigin}${options.basePath ?? ''}`;
  const { http } = buildApp({ config, db: testDb.db, logger: silentLogger, baseUrl, tenant: DEFAULT_TENANT, ready: () => testDb.db.ping() });
  await ensureBootstrapClient({ db: testDb.db, tenant: DEFAULT_TENANT, dir: dataDir, tokenUrl: `${baseUrl}/auth/token` });
  const creds = await readBootstrap(dataDir);
  await http.listen({ host: '127.0.0.1', port });
  const tokens = new Map<string, string>();
  async function token(scope = 'system/*.cruds'): Promise<string> {
    const cached = tokens.get(scope);
    if (cached) return cached;
    const { token: fresh } = await fetchToken(baseUrl, creds, scope);
    tokens.set(scope, fresh);
    return fresh;
  }
  return {
    baseUrl,
    listenOrigin,
    fhirUrl: `${baseUrl}/fhir`,
    dataDir,
    testDb,
    token,
    async fhir(path, init = {}) {
      const headers = new Headers(init.headers);
      if (init.token !== null) headers.set('authorization', `Bearer ${init.token ?? (await token())}`);
      let body = init.body;
      if (init.json !== undefined) {
        body = JSON.stringify(init.json);
        if (!headers.has('content-type')) headers.set('content-type', 'application/fhir+json');
      }
      const res = await fetch(`${baseUrl}/fhir${path}`, { ...init, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    async close() {
      await http.close();
      await testDb.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Stores each resource under its own id (PUT, update-as-create); fails the calling test if one is refused. */
export async function putResources(s: TestServer, resources: readonly { resourceType: string; id: string }[]): Promise<void> {
  for (const r of resources) {
    const res = await s.fhir(`/${r.resourceType}/${r.id}`, { method: 'PUT', json: r });
    if (res.status !== 201 && res.status !== 200) throw new Error(`${r.resourceType}/${r.id}: ${res.status}`);
  }
}
