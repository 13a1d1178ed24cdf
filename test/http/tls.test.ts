import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type SecureVersion } from 'node:tls';
import { buildApp } from '../../src/app/build.js';
import { publicBaseUrl } from '../../src/app/server.js';
import { createClientRegistry, pkceChallenge } from '../../src/auth/index.js';
import { loadConfig } from '../../src/config/index.js';
import { DEFAULT_TENANT, silentLogger } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { freePort } from '../support/server.js';

/**
 * HTTPS with HAVEN_TLS_CERT/HAVEN_TLS_KEY: a self-signed certificate made by
 * the openssl CLI; real handshakes from Node's TLS client. The old protocols
 * are offered with SECLEVEL=0 so that it is the server, not the client, that
 * refuses them (the client sees the server's protocol_version alert).
 */
let dir: string;
let t: TestDb;
let app: ReturnType<typeof buildApp>;
let port: number;
let cert: Buffer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'haven-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
  t = await createTestDb();
  port = await freePort();
  const config = loadConfig({ HAVEN_ENV: 'test', HAVEN_DATA_DIR: dir, HAVEN_PORT: String(port), HAVEN_TLS_CERT: join(dir, 'cert.pem'), HAVEN_TLS_KEY: join(dir, 'key.pem') });
  const baseUrl = publicBaseUrl(config, port);
  assert.equal(baseUrl, `https://127.0.0.1:${port}`, 'the default base URL is https under TLS (so the session cookie is __Host- and Secure)');
  app = buildApp({ config, db: t.db, logger: silentLogger, baseUrl, tenant: DEFAULT_TENANT, ready: () => t.db.ping() });
  await app.http.listen({ host: '127.0.0.1', port });
});
after(async () => {
  await app?.http.close();
  await t?.drop();
  rmSync(dir, { recursive: true, force: true });
});

function handshake(version: SecureVersion, ciphers?: string): Promise<{ ok: true; protocol: string | null; cipher: string } | { ok: false; code: string }> {
  return new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1', port, ca: cert, minVersion: version, maxVersion: version,
      // SECLEVEL=0 lets the client offer TLS 1.0/1.1 and weak suites at all.
      ciphers: ciphers ?? 'DEFAULT@SECLEVEL=0',
    });
    socket.once('secureConnect', () => {
      resolve({ ok: true, protocol: socket.getProtocol(), cipher: socket.getCipher().name });
      socket.end();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, code: err.code ?? err.message }));
  });
}

test('TLS 1.0 and 1.1 handshakes are refused by the server', async () => {
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    const r = await handshake(v);
    assert.equal(r.ok, false, `${v} must fail`);
    if (!r.ok) assert.match(r.code, /TLSV1_ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/, `${v}: the server's alert, not a client-side refusal (${r.code})`);
  }
});

test('TLS 1.2 (ECDHE + AEAD only) and TLS 1.3 are accepted', async () => {
  const v12 = await handshake('TLSv1.2');
  assert.ok(v12.ok && v12.protocol === 'TLSv1.2', JSON.stringify(v12));
  if (v12.ok) assert.match(v12.cipher, /^ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
  const v13 = await handshake('TLSv1.3');
  assert.ok(v13.ok && v13.protocol === 'TLSv1.3', JSON.stringify(v13));
});

test('weak TLS 1.2 suites (RSA key exchange, CBC) are refused', async () => {
  const r = await handshake('TLSv1.2', 'AES128-SHA:AES256-SHA256@SECLEVEL=0');
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.code, /HANDSHAKE_FAILURE|NO_SHARED_CIPHER/);
});

test('responses over TLS carry HSTS', async () => {
  const res = await new Promise<{ status: number; hsts: string | undefined }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', ca: cert }, (r) => {
      r.resume();
      resolve({ status: r.statusCode ?? 0, hsts: r.headers['strict-transport-security'] as string | undefined });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.status, 200);
  assert.equal(res.hsts, 'max-age=31536000; includeSubDomains');
});

test('over HTTPS the session cookie is __Host-haven_session, Secure, HttpOnly, SameSite=Lax, Path=/, without Domain', async () => {
  const redirect = 'https://app.example/callback';
  await createClientRegistry({ db: t.db }).register(DEFAULT_TENANT, { clientId: 'tls-app', name: 'TLS app', scopes: 'patient/Patient.rs', authMethod: 'none', redirectUris: [redirect] });
  const q = new URLSearchParams({
    response_type: 'code', client_id: 'tls-app', redirect_uri: redirect, scope: 'patient/Patient.rs', state: 's',
    aud: `https://127.0.0.1:${port}/fhir`, code_challenge: pkceChallenge('v'.repeat(43)), code_challenge_method: 'S256',
  });
  const res = await new Promise<{ status: number; cookies: string[] }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/auth/authorize?${q}`, ca: cert }, (r) => {
      r.resume();
      resolve({ status: r.statusCode ?? 0, cookies: r.headers['set-cookie'] ?? [] });
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.status, 302);
  const line = res.cookies.find((c) => c.startsWith('__Host-haven_session='));
  assert.ok(line, `the __Host- prefix: ${res.cookies.join(' | ')}`);
  assert.deepEqual(line!.split(';').slice(1).map((a) => a.trim().toLowerCase()).sort(), ['httponly', 'path=/', 'samesite=lax', 'secure']);
});

test('HAVEN_TLS_CERT without HAVEN_TLS_KEY is refused at start', () => {
  assert.throws(() => loadConfig({ HAVEN_TLS_CERT: join(dir, 'cert.pem') }), /HAVEN_TLS_CERT and HAVEN_TLS_KEY go together/);
});
