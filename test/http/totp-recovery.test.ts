import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { currentTotp } from '../../src/auth/index.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, csrf, formAction, login, REDIRECT, requireTenantMfa } from './smart-support.js';

/**
 * TOTP recovery codes (docs/security/identity.md, "Recovery codes"): shown once
 * at enrolment, hashed at rest, each good for one MFA step, under the same
 * lockout and backoff as TOTP codes, renewable by the signed-in user, removed by
 * the admin reset. Each browser has an address of its own (per-address backoff).
 */
const PASSWORD = 'a long enough passphrase 9';
const SCOPE = 'openid patient/Patient.rs';
const PAGE = '/auth/account/recovery-codes';

const unescape = (html: string) => html.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
const codesOn = (html: string) => [...html.matchAll(/<li><code>([^<]+)<\/code><\/li>/g)].map((m) => unescape(m[1]!));
const secretOn = (html: string) => new URL(unescape(/<code style="word-break:break-all">([^<]+)<\/code>/.exec(html)![1]!)).searchParams.get('secret')!;
const continueLink = (html: string) => unescape(/<a href="(\/auth\/flow\?[^"]+)">I have saved them/.exec(html)?.[1] ?? '');

describe('TOTP recovery codes', () => {
  let s: TestServer;
  let patient: string;
  let lastAddress = 0;
  const audited = async (pattern: string) =>
    (await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE $1", [`%${pattern}%`])).rowCount ?? 0;
  const rows = async (username: string) =>
    (await s.testDb.db.query<{ selector: string; code_hash: string }>('SELECT selector, code_hash FROM totp_recovery_code r JOIN app_user u USING (tenant_id, user_id) WHERE u.username = $1', [username])).rows;
  const createUser = async (username: string, totp = false) => {
    const res = await admin(s, '/auth/admin/users', { username, password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}`, totp });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { userId: string; totpUri?: string; recoveryCodes?: string[] };
  };
  /** A browser past the password of a new authorization request, from an address of its own. */
  async function passwordStep(username: string) {
    const b = new Browser(s.baseUrl);
    b.headers = { 'x-forwarded-for': `198.51.100.${++lastAddress}` };
    const start = await b.go(authorizeUrl(s, { client_id: 'recovery-app', scope: SCOPE, code_challenge: 'x'.repeat(43) }));
    return { b, page: await login(b, start, username, PASSWORD) };
  }
  const useRecovery = (b: Browser, page: { html: string }, recovery: string) => b.go(formAction(page.html), { csrf: csrf(page.html), recovery });
  const useTotp = (b: Browser, page: { html: string }, code: string) => b.go(formAction(page.html), { csrf: csrf(page.html), code });

  before(async () => {
    s = await startTestServer({ HAVEN_LOGIN_MAX_FAILURES: '3', HAVEN_LOGIN_IP_MAX_FAILURES: '50', HAVEN_TRUSTED_PROXIES: '127.0.0.1' });
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Recovery' }] } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'recovery-app', name: 'Recovery app', scopes: SCOPE, redirectUris: [REDIRECT] })).status, 201);
    await createUser('rita');
    await requireTenantMfa(s);
  });
  after(() => s.close());

  it('enrolment shows ten codes once; only scrypt hashes are stored; a code passes the MFA step exactly once', async () => {
    const { b, page } = await passwordStep('rita');
    assert.match(page.html, /Set up your authenticator app/);
    const secret = secretOn(page.html);
    const shown = await useTotp(b, page, currentTotp(secret, new Date()));
    assert.equal(shown.status, 200, shown.html.slice(0, 300));
    assert.equal(shown.headers.get('cache-control'), 'no-store');
    assert.match(shown.headers.get('content-security-policy')!, /default-src 'none'/);
    assert.match(shown.html, /<h1>Save your recovery codes<\/h1>/);
    const codes = codesOn(shown.html);
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/);
    assert.equal(new Set(codes).size, 10);
    const stored = await rows('rita');
    assert.equal(stored.length, 10);
    const plain = codes.map((c) => c.replace(/-/g, ''));
    for (const r of stored) {
      assert.match(r.code_hash, /^scrypt\$/);
      assert.ok(!plain.some((c) => r.code_hash.includes(c)), 'no code in the clear');
    }
    assert.deepEqual(stored.map((r) => r.selector).sort(), plain.map((c) => c.slice(0, 4)).sort(), 'only the first four characters as the row key');
    assert.ok((await audited('auth.mfa-recovery-issued')) >= 1);
    const onwards = await b.go(continueLink(shown.html));
    assert.match(onwards.html, /Allow/, 'the flow goes on after the codes');
    const reshown = await b.go(continueLink(shown.html));
    assert.equal(codesOn(reshown.html).length, 0, 'the codes are not shown again');

    // The next sign-in: the MFA page offers a labelled recovery-code form beside the TOTP one.
    const next = await passwordStep('rita');
    assert.match(next.page.html, /<label for="recovery">Recovery code<\/label>/);
    assert.match(next.page.html, /<input type="text" id="recovery" name="recovery"/);
    const wrong = await useRecovery(next.b, next.page, 'zzzz-zzzz-zzzz-zzzz');
    assert.equal(wrong.status, 401);
    assert.match(wrong.html, /role="alert"[^>]*>The recovery code was not accepted/);
    assert.ok((await audited('bad-recovery-code')) >= 1);
    const passed = await useRecovery(next.b, wrong, codes[0]!.toUpperCase().replace(/-/g, ' '));
    assert.match(passed.html, /Allow/, 'a recovery code replaces the TOTP code (case and separators do not matter)');
    assert.equal((await rows('rita')).length, 9, 'the code is spent');
    assert.equal(await audited('remaining=9'), 1, 'use is audited with the count left');
    assert.ok((await audited('auth.mfa-recovery-used')) >= 2);
    for (const c of codes) assert.equal(await audited(c.replace(/-/g, '').slice(4)), 0, 'no code reaches the audit log');

    const again = await passwordStep('rita');
    const reused = await useRecovery(again.b, again.page, codes[0]!);
    assert.equal(reused.status, 401, 'the same code does not work twice');
    assert.doesNotMatch(reused.html, /Allow/);
    assert.match((await useRecovery(again.b, reused, codes[1]!)).html, /Allow/, 'another one does');
  });

  it('wrong recovery codes count towards the lockout; a locked account cannot spend a code', async () => {
    const made = await createUser('lena', true);
    assert.equal(made.recoveryCodes?.length, 10, 'an authenticator made by an admin comes with its codes, answered once');
    assert.ok((await audited(`user=${made.userId} at-creation`)) >= 1);
    const { b, page } = await passwordStep('lena');
    assert.match(page.html, /Verification code/);
    let current = page;
    for (let i = 0; i < 3; i++) {
      current = await useRecovery(b, current, `wxyz-wxyz-wxyz-wxy${i}`);
      assert.equal(current.status, 401);
    }
    const locked = await useRecovery(b, current, made.recoveryCodes![0]!);
    assert.equal(locked.status, 401, 'locked: a valid code is refused');
    assert.equal((await rows('lena')).length, 10, 'and not spent');
    assert.ok((await audited('auth.lockout')) >= 1);
  });

  it('the signed-in user makes a new set (after MFA, with the CSRF token); the old codes stop working', async () => {
    const mona = await createUser('mona', true);
    const secret = new URL(mona.totpUri!).searchParams.get('secret')!;
    const anonymous = new Browser(s.baseUrl);
    const refused = await anonymous.request(PAGE);
    assert.equal(refused.status, 401);
    assert.match(refused.html, /role="alert"/);

    const { b, page } = await passwordStep('mona');
    assert.equal((await b.request(PAGE)).status, 401, 'password alone is not enough');
    assert.match((await useTotp(b, page, currentTotp(secret, new Date()))).html, /Allow/);
    const form = await b.request(PAGE);
    assert.equal(form.status, 200);
    assert.equal(form.headers.get('cache-control'), 'no-store');
    assert.match(form.headers.get('content-security-policy')!, /form-action 'self'/);
    assert.match(form.html, /<strong>10<\/strong> unused recovery codes/);
    const forged = await b.request(PAGE, { csrf: 'not-the-token' });
    assert.equal(forged.status, 403);
    assert.match(forged.html, /role="alert"/);
    assert.equal((await rows('mona')).length, 10);

    const made = await b.request(PAGE, { csrf: csrf(form.html) });
    assert.equal(made.status, 200);
    assert.equal(made.headers.get('cache-control'), 'no-store');
    const fresh = codesOn(made.html);
    assert.equal(fresh.length, 10);
    assert.ok((await audited('regenerated')) >= 1);
    assert.ok(!fresh.includes(mona.recoveryCodes![0]!));

    const next = await passwordStep('mona');
    const old = await useRecovery(next.b, next.page, mona.recoveryCodes![0]!);
    assert.equal(old.status, 401, 'the old set is gone');
    assert.match((await useRecovery(next.b, old, fresh[0]!)).html, /Allow/, 'the new set works');
  });

  it('the account page, linked from the approval page, leads the signed-in user to the recovery codes', async () => {
    const olga = await createUser('olga', true);
    const secret = new URL(olga.totpUri!).searchParams.get('secret')!;
    assert.equal((await new Browser(s.baseUrl).request('/auth/account')).status, 401, 'no session');
    const { b, page } = await passwordStep('olga');
    const pending = await b.request('/auth/account');
    assert.equal(pending.status, 401, 'a session between password and MFA is not signed in');
    assert.doesNotMatch(pending.html, /olga/);
    const consent = await useTotp(b, page, currentTotp(secret, new Date()));
    assert.match(consent.html, /Allow/);
    const link = unescape(/<a href="([^"]+)">Your account<\/a>/.exec(consent.html)?.[1] ?? '');
    assert.equal(link, '/auth/account', 'the approval page links the account page');
    const account = await b.request(link);
    assert.equal(account.status, 200);
    assert.equal(account.headers.get('cache-control'), 'no-store');
    assert.match(account.html, /<h1>Your account<\/h1>/);
    assert.match(account.html, /Signed in as <strong>olga<\/strong>/);
    const recovery = unescape(/<a href="([^"]+)">Recovery codes<\/a> — 10 unused/.exec(account.html)?.[1] ?? '');
    assert.equal(recovery, PAGE);
    const form = await b.request(recovery);
    assert.equal(form.status, 200);
    assert.match(form.html, /<a href="\/auth\/account">Back to your account<\/a>/);
  });

  it('the admin reset removes the codes with the authenticator', async () => {
    const nina = await createUser('nina', true);
    assert.equal((await rows('nina')).length, 10);
    const res = await fetch(`${s.baseUrl}/auth/admin/users/nina/totp`, { method: 'DELETE', headers: { authorization: `Bearer ${await s.token()}` } });
    assert.equal(res.status, 200);
    assert.equal((await rows('nina')).length, 0);
    // After the reset the user enrols anew; an old code does not skip that.
    const { b, page } = await passwordStep('nina');
    assert.match(page.html, /Set up your authenticator app/);
    const request = new URL(formAction(page.html), s.baseUrl).searchParams.get('request')!;
    const forced = await b.request(`/auth/flow/mfa?request=${encodeURIComponent(request)}`, { csrf: csrf(page.html), recovery: nina.recoveryCodes![0]! });
    assert.equal(forced.status, 303, 'the MFA step is not where this flow is');
  });
});
