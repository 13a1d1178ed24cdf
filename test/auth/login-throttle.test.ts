import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createSourceThrottle } from '../../src/auth/login-throttle.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, login, pkce, REDIRECT } from '../http/smart-support.js';
import { manualClock } from './harness.js';
import { loadConfig } from '../../src/config/index.js';
import { auditKeysOf } from '../support/audit-keys.js';

/** The source addresses of every audit entry: sealed in format v2, so read opened, as an auditor does. */
async function auditedSources(s: TestServer): Promise<string[]> {
  const keys = auditKeysOf(s.testDb.db, s.dataDir);
  try {
    return (await keys.entries('SELECT entry_id, canonical FROM audit_entry')).flatMap((e) => (e.where.sourceIp ? [e.where.sourceIp] : []));
  } finally {
    await keys.close();
  }
}

describe('login backoff per source address', () => {
  it('blocks an address after maxFailures, doubling per further failure, forgetting after a quiet window', () => {
    const clock = manualClock(Date.UTC(2026, 0, 1));
    const t = createSourceThrottle({ maxFailures: 3, windowMs: 15 * 60_000, blockMs: 60_000 }, clock);
    const start = clock.now().getTime();
    t.failure('10.0.0.1');
    t.failure('10.0.0.1');
    assert.equal(t.blockedUntil('10.0.0.1'), undefined, 'below the limit');
    t.failure('10.0.0.1');
    assert.equal(t.blockedUntil('10.0.0.1'), start + 60_000);
    assert.equal(t.blockedUntil('10.0.0.2'), undefined, 'other addresses are not affected');
    t.failure('10.0.0.1');
    assert.equal(t.blockedUntil('10.0.0.1'), start + 120_000, 'doubles');
    clock.advance(121);
    assert.equal(t.blockedUntil('10.0.0.1'), undefined, 'the block ends');
    t.failure('10.0.0.1');
    assert.equal(t.blockedUntil('10.0.0.1'), clock.now().getTime() + 240_000, 'inside the window the count goes on');
    clock.advance(241 + 15 * 60);
    t.failure('10.0.0.1');
    assert.equal(t.blockedUntil('10.0.0.1'), undefined, 'after a quiet window the count starts again');
    for (let i = 0; i < 30; i++) t.failure('10.0.0.3');
    assert.ok(t.blockedUntil('10.0.0.3')! <= clock.now().getTime() + 3_600_000, 'capped at one hour');
    t.failure(undefined);
    assert.equal(t.blockedUntil(undefined), undefined);
  });
});

describe('password spraying from one address is throttled (HTTP)', () => {
  let s: TestServer;
  const PASSWORD = 'the real passphrase 77';

  before(async () => {
    s = await startTestServer({ HAVEN_LOGIN_IP_MAX_FAILURES: '3' });
    const patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient' } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'spray-app', name: 'Spray', scopes: 'patient/*.rs', redirectUris: [REDIRECT] })).status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'victim', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
  });
  after(() => s.close());

  it('refuses even the right password once the address has failed on other accounts, without locking the account', async () => {
    const b = new Browser(s.baseUrl);
    let page = await b.go(authorizeUrl(s, { client_id: 'spray-app', scope: 'patient/Patient.rs', code_challenge: pkce().challenge }));
    for (const name of ['alpha', 'bravo', 'charlie']) {
      page = await login(b, page, name, 'Summer2026!');
      assert.equal(page.status, 401);
    }
    const refused = await login(b, page, 'victim', PASSWORD);
    assert.equal(refused.status, 401, 'the address is throttled');
    assert.match(refused.html, /Sign-in failed/, 'same generic message');
    const row = await s.testDb.db.query<{ failed_count: number }>("SELECT failed_count FROM app_user WHERE username = 'victim'");
    assert.equal(row.rows[0]!.failed_count, 0, 'the account itself is not locked by someone else’s spraying');
    const audit = await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE '%source-throttled%'");
    assert.ok(audit.rowCount! >= 1, 'the throttled attempt is audited');
  });
});

describe('X-Forwarded-For counts only from trusted proxies (HAVEN_TRUSTED_PROXIES)', () => {
  const PASSWORD = 'the real passphrase 78';

  async function server(trusted: string): Promise<TestServer> {
    const s = await startTestServer({ HAVEN_LOGIN_IP_MAX_FAILURES: '3', HAVEN_TRUSTED_PROXIES: trusted });
    const patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient' } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'xff-app', name: 'Xff', scopes: 'patient/*.rs', redirectUris: [REDIRECT] })).status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'victim', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
    return s;
  }

  /** A sign-in attempt from a fresh browser that claims `forwardedFor`. */
  async function attempt(s: TestServer, forwardedFor: string, username: string, password: string): Promise<number> {
    const b = new Browser(s.baseUrl);
    b.headers = { 'x-forwarded-for': forwardedFor };
    const page = await b.go(authorizeUrl(s, { client_id: 'xff-app', scope: 'patient/Patient.rs', code_challenge: pkce().challenge }));
    return (await login(b, page, username, password)).status;
  }

  it('the setting takes addresses, CIDR ranges and proxy-addr keywords, and refuses anything else at start', () => {
    assert.deepEqual(loadConfig({ HAVEN_TRUSTED_PROXIES: ' 10.0.0.0/8, ::1 ,loopback,192.0.2.7' }).http.trustedProxies, ['10.0.0.0/8', '::1', 'loopback', '192.0.2.7']);
    assert.deepEqual(loadConfig({}).http.trustedProxies, []);
    for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.1/8/1', 'fe80::/129']) {
      assert.throws(() => loadConfig({ HAVEN_TRUSTED_PROXIES: bad }), /HAVEN_TRUSTED_PROXIES/, bad);
    }
  });

  it('from an untrusted peer a spoofed header is ignored: a fresh claimed address does not escape the backoff', async () => {
    const s = await server('10.0.0.0/8'); // the test client connects from 127.0.0.1: not a trusted proxy
    try {
      for (const [i, name] of ['alpha', 'bravo', 'charlie'].entries()) assert.equal(await attempt(s, `198.51.100.${i + 1}`, name, 'Summer2026!'), 401);
      assert.equal(await attempt(s, '198.51.100.99', 'victim', PASSWORD), 401, 'throttled by the real peer address, whatever the header says');
      const sources = await auditedSources(s);
      assert.ok(sources.length > 0);
      assert.equal(sources.filter((ip) => ip.startsWith('198.51.100.')).length, 0, 'the spoofed addresses are not recorded as the source either');
    } finally {
      await s.close();
    }
  });

  it('behind a trusted proxy each client address has its own backoff; a client-forged left-hand entry changes nothing', async () => {
    const s = await server('127.0.0.1/32');
    try {
      for (const name of ['alpha', 'bravo', 'charlie']) assert.equal(await attempt(s, '203.0.113.5', name, 'Summer2026!'), 401);
      assert.equal(await attempt(s, '203.0.113.5', 'victim', PASSWORD), 401, 'the sprayer is throttled');
      // The proxy appends the address it saw; what the client sent in front of it is not trusted.
      assert.equal(await attempt(s, '203.0.113.77, 203.0.113.5', 'victim', PASSWORD), 401, 'a forged first entry does not unblock it');
      assert.notEqual(await attempt(s, '203.0.113.6', 'victim', PASSWORD), 401, 'another client behind the same proxy signs in');
      assert.ok((await auditedSources(s)).includes('203.0.113.5'), 'the forwarded client address is the audited source');
    } finally {
      await s.close();
    }
  });
});
