import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { currentTotp } from '../../src/auth/index.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { decodeSvgQr } from './qr-support.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, REDIRECT, requireTenantMfa, tokenRequest } from './smart-support.js';

/**
 * TOTP enrolment at sign-in (docs/security/identity.md): a user who must pass
 * MFA but has no authenticator enrols one after the password, over real HTTP.
 * Each browser comes from its own address (X-Forwarded-For from the trusted
 * loopback proxy) so the per-address backoff of one test leaves the others alone.
 */
const PASSWORD = 'a long enough passphrase 9';
const SCOPE = 'openid patient/Patient.rs';

const unescape = (html: string) => html.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
/** The otpauth:// URI the enrolment page shows, and its secret. */
function offered(html: string): { uri: string; secret: string } {
  const uri = unescape(/<code style="word-break:break-all">([^<]+)<\/code>/.exec(html)?.[1] ?? '');
  assert.ok(uri.startsWith('otpauth://totp/'), `an otpauth URI on the page: ${html.slice(0, 300)}`);
  return { uri, secret: new URL(uri).searchParams.get('secret')! };
}
const codeAt = (secret: string, offsetSeconds = 0) => currentTotp(secret, new Date(Date.now() + offsetSeconds * 1000));
/** A six-digit code valid for none of the steps the server accepts now. */
function wrongCode(secret: string): string {
  const valid = new Set([-30, 0, 30, 60].map((o) => codeAt(secret, o)));
  for (let n = 0; ; n++) {
    const code = String(n).padStart(6, '0');
    if (!valid.has(code)) return code;
  }
}

describe('TOTP enrolment at sign-in, and its admin reset', () => {
  let s: TestServer;
  let patient: string;
  let lastAddress = 0;
  const audited = async (pattern: string) =>
    (await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE $1", [`%${pattern}%`])).rowCount ?? 0;
  const userRow = async (username: string) =>
    (await s.testDb.db.query<{ user_id: string; totp_secret: Buffer | null; failed_count: number }>('SELECT user_id, totp_secret, failed_count FROM app_user WHERE username = $1', [username])).rows[0]!;

  /** A browser at the sign-in page of a new authorization request, from an address of its own. */
  async function startSignIn(challenge = pkce().challenge) {
    const b = new Browser(s.baseUrl);
    b.headers = { 'x-forwarded-for': `198.51.100.${++lastAddress}` };
    const page = await b.go(authorizeUrl(s, { client_id: 'enrol-app', scope: SCOPE, code_challenge: challenge }));
    return { b, page };
  }
  async function passwordStep(username: string, challenge?: string) {
    const { b, page } = await startSignIn(challenge);
    return { b, page: await login(b, page, username, PASSWORD) };
  }
  /** Posts a code; past the recovery codes shown after a successful enrolment (totp-recovery.test.ts checks those). */
  const submitCode = async (b: Browser, page: { html: string }, code: string) => {
    const res = await b.go(formAction(page.html), { csrf: csrf(page.html), code });
    const next = /<a href="(\/auth\/flow\?[^"]+)">I have saved them/.exec(res.html)?.[1];
    return next ? b.go(unescape(next)) : res;
  };
  const createUser = async (username: string, totp = false) => {
    const res = await admin(s, '/auth/admin/users', { username, password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}`, totp });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { userId: string; totpUri?: string };
  };
  const resetTotp = async (user: string, token?: string | null) => {
    const res = await fetch(`${s.baseUrl}/auth/admin/users/${encodeURIComponent(user)}/totp`, {
      method: 'DELETE',
      headers: token === null ? {} : { authorization: `Bearer ${token ?? (await s.token())}` },
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    s = await startTestServer({ HAVEN_LOGIN_MAX_FAILURES: '3', HAVEN_LOGIN_IP_MAX_FAILURES: '4', HAVEN_TRUSTED_PROXIES: '127.0.0.1' });
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Enrol' }] } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'enrol-app', name: 'Enrol app', scopes: SCOPE, redirectUris: [REDIRECT] })).status, 201);
    for (const name of ['carol', 'erin', 'gina', 'hank', 'ivan']) await createUser(name);
    await requireTenantMfa(s);
  });
  after(() => s.close());

  it('an existing user without TOTP enrols after the password: wrong code refused, right code stores the secret and the flow ends in tokens', async () => {
    const { verifier, challenge } = pkce();
    const { b, page } = await passwordStep('carol', challenge);
    assert.equal(page.status, 200);
    assert.match(page.html, /<h1>Set up your authenticator app<\/h1>/);
    assert.doesNotMatch(page.html, /Allow/);
    const { uri, secret } = offered(page.html);
    assert.match(uri, /issuer=Haven/);
    assert.match(uri, /carol/);
    assert.match(page.html, new RegExp(secret.replace(/(.{4})(?=.)/g, '$1 ')), 'the key in base32, grouped for typing');
    assert.match(page.html, /<label for="code">/);
    // The QR code: inline SVG (no <img>, so no img-src in the CSP), named for screen readers, and it scans to the same URI.
    const svg = /<svg[^>]*>[\s\S]*?<\/svg>/.exec(page.html)?.[0] ?? '';
    assert.match(svg, /^<svg [^>]*role="img" aria-label="QR code[^"]*"/, 'an inline SVG QR code with an accessible name');
    assert.doesNotMatch(page.html, /<img|<script|data:/);
    assert.equal(decodeSvgQr(svg), uri, 'the QR code encodes the otpauth URI on the page');
    // The same hardening as the other sign-in pages.
    const shown = await b.request(`/auth/flow?request=${encodeURIComponent(new URL(formAction(page.html), s.baseUrl).searchParams.get('request')!)}`);
    assert.equal(shown.headers.get('cache-control'), 'no-store');
    assert.equal(shown.headers.get('x-frame-options'), 'DENY');
    assert.match(shown.headers.get('content-security-policy')!, /default-src 'none'.*form-action 'self'; frame-ancestors 'none'/);
    assert.equal(offered(shown.html).secret, secret, 'reloading the page offers the same key');
    assert.equal((await userRow('carol')).totp_secret, null, 'nothing stored before a code');

    const wrong = await submitCode(b, page, wrongCode(secret));
    assert.equal(wrong.status, 401);
    assert.match(wrong.html, /role="alert"/);
    assert.equal(offered(wrong.html).secret, secret, 'the same key is offered again');
    assert.equal((await userRow('carol')).totp_secret, null, 'a wrong code stores nothing');

    const consent = await submitCode(b, wrong, codeAt(secret));
    assert.equal(consent.status, 200, consent.html.slice(0, 400));
    assert.match(consent.html, /Allow/);
    const stored = await userRow('carol');
    assert.ok(stored.totp_secret, 'the secret is stored');
    assert.ok(!stored.totp_secret.toString('latin1').includes(secret), 'sealed, not in plaintext');
    assert.equal((await s.testDb.db.query('SELECT 1 FROM totp_enrolment')).rowCount, 0, 'the pending offer is gone');

    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/Patient.rs' });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'enrol-app', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: t.body.access_token })).status, 200);
    assert.ok((await audited('auth.mfa-enrol')) >= 2, 'the offer and the enrolment are audited');
    assert.ok((await audited('key-offered')) >= 1 && (await audited('enrolled')) >= 1);
    assert.ok((await audited('bad-totp')) >= 1, 'the wrong code is audited');

    // The next sign-in asks for a code from the enrolled secret (the next time step: the enrolment code is spent).
    const again = await passwordStep('carol');
    assert.match(again.page.html, /Verification code/);
    assert.doesNotMatch(again.page.html, /Set up your authenticator/);
    const replay = await submitCode(again.b, again.page, codeAt(secret, -30));
    assert.doesNotMatch(replay.html, /Allow/, 'a code of the enrolment’s step (or earlier) is not accepted again');
    const passed = await submitCode(again.b, replay, codeAt(secret, 30));
    assert.match(passed.html, /Allow/, 'the enrolled secret works at the next sign-in');
  });

  it('an account with TOTP never reaches enrolment, and a second enrolment in parallel does not replace the first', async () => {
    const dave = await createUser('dave', true);
    const { b, page } = await passwordStep('dave');
    assert.match(page.html, /Verification code/);
    assert.doesNotMatch(page.html, /otpauth:/);
    const request = new URL(formAction(page.html), s.baseUrl).searchParams.get('request')!;
    const forced = await b.request(`/auth/flow/enrol?request=${encodeURIComponent(request)}`, { csrf: csrf(page.html), code: '123456' });
    assert.equal(forced.status, 303);
    assert.equal(forced.location, `/auth/flow?request=${encodeURIComponent(request)}`, 'sent back to the step it is at');
    const still = await b.go(forced.location!);
    assert.match(still.html, /Verification code/);
    assert.doesNotMatch(still.html, /Allow/);
    assert.equal((await s.testDb.db.query('SELECT 1 FROM totp_enrolment')).rowCount, 0, 'no key was offered');
    const secret = new URL(dave.totpUri!).searchParams.get('secret')!;
    assert.match((await submitCode(b, still, codeAt(secret))).html, /Allow/, 'its own authenticator still works');

    // Two browsers of a user without TOTP, both at enrolment: the first to finish wins; the other's key is refused.
    const first = await passwordStep('ivan');
    const second = await passwordStep('ivan');
    const key1 = offered(first.page.html).secret;
    const key2 = offered(second.page.html).secret;
    assert.notEqual(key1, key2, 'each session gets its own key');
    assert.match((await submitCode(first.b, first.page, codeAt(key1))).html, /Allow/);
    const late = await submitCode(second.b, second.page, codeAt(key2));
    assert.doesNotMatch(late.html, /Allow/);
    assert.match(late.html, /Verification code/, 'the late session must now use the enrolled authenticator');
    assert.match((await submitCode(second.b, late, codeAt(key1, 30))).html, /Allow/);
  });

  it('admin reset: needs an admin token, is audited, ends the user’s sessions, and the next sign-in enrols anew', async () => {
    const userId = (await userRow('ivan')).user_id;
    assert.ok((await userRow('ivan')).totp_secret);
    const signedIn = await passwordStep('ivan');
    assert.match(signedIn.page.html, /Verification code/);

    assert.equal((await resetTotp('ivan', null)).status, 401, 'no token');
    const unknown = await resetTotp('nobody-here');
    assert.equal(unknown.status, 404);
    assert.match(JSON.stringify(unknown.body), /AUTH_USER_UNKNOWN/);

    const reset = await resetTotp(userId);
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    assert.deepEqual(
      { ...reset.body, sessionsEnded: reset.body.sessionsEnded >= 1, grantsRevoked: typeof reset.body.grantsRevoked === 'number' },
      { userId, username: 'ivan', hasTotp: false, sessionsEnded: true, grantsRevoked: true }, // ivan never finished a sign-in: user-cutoff.test.ts counts them
    );
    assert.equal((await userRow('ivan')).totp_secret, null);
    assert.equal(await audited(`user=${userId}`), 1, 'audited with the user whose authenticator went');
    assert.ok((await audited('auth.mfa-reset')) >= 1);
    const ended = await signedIn.b.go(formAction(signedIn.page.html), { csrf: csrf(signedIn.page.html), code: '123456' });
    assert.match(ended.html, /expired or belongs to another browser/, 'the half-signed-in session is gone');

    const next = await passwordStep('ivan');
    assert.match(next.page.html, /Set up your authenticator app/);
    const { secret } = offered(next.page.html);
    assert.match((await submitCode(next.b, next.page, codeAt(secret))).html, /Allow/);

    const byName = await resetTotp('ivan');
    assert.equal(byName.status, 200, 'the username works as well');
  });

  it('`haven users reset-totp` resets through the admin API', async () => {
    assert.ok((await userRow('dave')).totp_secret);
    const args = ['bin/haven.js', 'users', 'reset-totp', '--url', s.baseUrl, '--username', 'dave'];
    const proc = spawn(process.execPath, args, { env: { ...process.env, HAVEN_DATA_DIR: s.dataDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /reset the authenticator of dave/);
    assert.equal((await userRow('dave')).totp_secret, null);
  });

  it('a non-admin token cannot reset an authenticator', async () => {
    // A user token from a completed sign-in (patient plane) is not an admin client token.
    const { verifier, challenge } = pkce();
    const { b, page } = await passwordStep('hank', challenge);
    const consent = await submitCode(b, page, codeAt(offered(page.html).secret));
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/Patient.rs' });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'enrol-app', code_verifier: verifier });
    assert.equal(t.status, 200);
    const refused = await resetTotp('carol', t.body.access_token);
    assert.equal(refused.status, 403);
    assert.match(JSON.stringify(refused.body), /AUTH_ADMIN_REQUIRED/);
    assert.ok((await userRow('carol')).totp_secret, 'untouched');
  });

  it('lockout and per-address backoff apply to the enrolment code', async () => {
    // Account lockout: three wrong codes lock erin; then even the right code is refused.
    const { b, page } = await passwordStep('erin');
    const { secret } = offered(page.html);
    let current = page;
    for (let i = 0; i < 3; i++) {
      current = await submitCode(b, current, wrongCode(secret));
      assert.equal(current.status, 401);
    }
    const locked = await submitCode(b, current, codeAt(secret));
    assert.equal(locked.status, 401, 'locked: the right code is refused too');
    assert.doesNotMatch(locked.html, /Allow/);
    assert.equal((await userRow('erin')).totp_secret, null);
    assert.ok((await audited('auth.lockout')) >= 1);

    // Backoff per address: four failures from one address, over two accounts (neither locked), throttle it.
    const g = await passwordStep('gina');
    const h = await startSignIn();
    h.b.headers = g.b.headers;
    const hPage = await login(h.b, h.page, 'hank', PASSWORD);
    assert.match(hPage.html, /Verification code/, 'hank enrolled in the previous test');
    const gKey = offered(g.page.html).secret;
    let gPage = g.page;
    for (let i = 0; i < 2; i++) gPage = await submitCode(g.b, gPage, wrongCode(gKey));
    let hCurrent = hPage;
    for (let i = 0; i < 2; i++) hCurrent = await submitCode(h.b, hCurrent, 'not-a-code');
    const throttled = await submitCode(g.b, gPage, codeAt(gKey));
    assert.equal(throttled.status, 401, 'the address is throttled: the right code is refused');
    assert.ok((await audited('source-throttled')) >= 1);
    assert.ok((await userRow('gina')).failed_count < 3, 'gina’s account itself is not locked');
    // The same session from another address passes: it was the address, not the account.
    g.b.headers = { 'x-forwarded-for': '203.0.113.77' };
    assert.match((await submitCode(g.b, throttled, codeAt(gKey))).html, /Allow/);
  });

  it('a session stopped at enrolment cannot open the break-glass page; after enrolment it can', async () => {
    const role = await fetch(`${s.baseUrl}/auth/admin/roles/emergency`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${await s.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify({ breakGlass: true, policies: [] }),
    });
    assert.ok(role.status === 201 || role.status === 200);
    const created = await admin(s, '/auth/admin/users', { username: 'kim', password: PASSWORD, roles: ['emergency'] });
    assert.equal(created.status, 201);
    const { b, page } = await passwordStep('kim');
    assert.match(page.html, /Set up your authenticator app/);
    const breakGlass = () => b.request('/auth/break-glass/page');
    const refused = await breakGlass();
    assert.equal(refused.status, 401, 'password alone is not a signed-in session where MFA is required');
    assert.match(refused.html, /Sign in through your clinical application first/);
    await submitCode(b, page, codeAt(offered(page.html).secret));
    assert.equal((await breakGlass()).status, 200, 'after enrolment (MFA passed) the page opens');
  });
});
