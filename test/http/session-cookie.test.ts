import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, csrf, login, pkce, REDIRECT } from './smart-support.js';

/**
 * The sign-in session cookie (docs/security/identity.md, Sessions and cookies):
 * attributes that keep it from scripts, other sites and other paths; a value
 * of 256 random bits of which the database keeps only the SHA-256; a new value
 * at login (no fixation); cleared and ended at logout. Over HTTPS the name and
 * `Secure` are checked in test/http/tls.test.ts.
 */
const PASSWORD = 'a long enough cookie passphrase';

const sessionCookie = (headers: Headers): string | undefined => headers.getSetCookie().find((c) => c.startsWith('haven_session='));
const attributes = (line: string): string[] => line.split(';').slice(1).map((a) => a.trim().toLowerCase()).sort();
const valueOf = (line: string): string => line.slice(line.indexOf('=') + 1, line.indexOf(';'));
const sha256 = (v: string) => createHash('sha256').update(v, 'utf8').digest('base64url');

describe('the sign-in session cookie', () => {
  let s: TestServer;

  before(async () => {
    s = await startTestServer();
    const patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Crumb' }] } })).body.id;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'cookie-app', name: 'Cookie app', scopes: 'patient/Patient.rs', redirectUris: [REDIRECT] })).status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'cookie', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
  });
  after(() => s.close());

  const hashes = async () => (await s.testDb.db.query<{ id_hash: string }>('SELECT id_hash FROM auth_session')).rows.map((r) => r.id_hash);

  it('is HttpOnly, SameSite=Lax, Path=/, without Domain or a lifetime, and stored only as its hash', async () => {
    const b = new Browser(s.baseUrl);
    const start = await b.request(authorizeUrl(s, { client_id: 'cookie-app', scope: 'patient/Patient.rs', code_challenge: pkce().challenge }));
    assert.equal(start.status, 302);
    const line = sessionCookie(start.headers);
    assert.ok(line, 'the authorization request opens a session');
    assert.deepEqual(attributes(line!), ['httponly', 'path=/', 'samesite=lax'], 'no Domain, Max-Age or Expires; no Secure over plain http');
    const value = valueOf(line!);
    assert.match(value, /^[A-Za-z0-9_-]{43}$/, '256 random bits, base64url');
    const stored = await hashes();
    assert.ok(stored.includes(sha256(value)), 'the database holds the SHA-256');
    const raw = await s.testDb.db.query("SELECT 1 FROM auth_session WHERE id_hash = $1 OR csrf = $1", [value]);
    assert.equal(raw.rowCount, 0, 'never the value itself');
  });

  it('gets a new value at login, the old one dies; logout clears it and ends the session', async () => {
    const b = new Browser(s.baseUrl);
    const page = await b.go(authorizeUrl(s, { client_id: 'cookie-app', scope: 'patient/Patient.rs', code_challenge: pkce().challenge }));
    const before = b.cookies.get('haven_session')!;
    const consent = await login(b, page, 'cookie', PASSWORD);
    assert.match(consent.html, /Allow/);
    const afterLogin = b.cookies.get('haven_session')!;
    assert.notEqual(afterLogin, before, 'no session fixation');
    const stored = await hashes();
    assert.ok(!stored.includes(sha256(before)), 'the pre-login session is gone');
    assert.ok(stored.includes(sha256(afterLogin)));

    const forged = await fetch(`${s.baseUrl}/auth/logout`, {
      method: 'POST',
      headers: { cookie: `haven_session=${afterLogin}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: 'forged' }),
    });
    assert.ok((await hashes()).includes(sha256(afterLogin)), `a logout without the CSRF token ends nothing (${forged.status})`);
    const out = await fetch(`${s.baseUrl}/auth/logout`, {
      method: 'POST',
      headers: { cookie: `haven_session=${afterLogin}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf: csrf(consent.html) }),
    });
    assert.equal(out.status, 204);
    const cleared = sessionCookie(out.headers)!;
    assert.equal(valueOf(cleared), '');
    assert.ok(attributes(cleared).includes('max-age=0'));
    assert.ok(attributes(cleared).includes('httponly'));
    assert.ok(!(await hashes()).includes(sha256(afterLogin)), 'the session is ended on the server');
  });
});
