import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TENANT, isHavenError, type TenantId } from '../../src/kernel/index.js';
import { createSessionStore } from '../../src/auth/sessions.js';
import { createTenantSettings, parseSettingsPatch } from '../../src/auth/tenant-settings.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, csrf, formAction, login, pkce, REDIRECT } from '../http/smart-support.js';
import { currentTotp } from '../../src/auth/index.js';
import { manualClock } from './harness.js';

/**
 * Auto-logoff per tenant: the idle and absolute session time-outs are the
 * configured defaults unless the tenant overrides them through the admin API.
 */
describe('tenant settings: parsing a change', () => {
  it('takes integers within bounds and null (back to the default); refuses anything else', () => {
    assert.deepEqual(parseSettingsPatch({ sessionIdleMinutes: 5, sessionMaxHours: null }), { sessionIdleMinutes: 5, sessionMaxHours: null });
    const bad: unknown[] = [null, [], 'x', {}, { sessionIdleMinutes: 0 }, { sessionIdleMinutes: 1441 }, { sessionIdleMinutes: 2.5 }, { sessionIdleMinutes: '5' }, { sessionMaxHours: 169 }, { idleMinutes: 5 }];
    for (const body of bad) {
      assert.throws(() => parseSettingsPatch(body), (err: unknown) => isHavenError(err) && err.code === 'AUTH_SETTINGS_INVALID', JSON.stringify(body));
    }
  });

  it('mfaRequired takes true, false or null only', () => {
    assert.deepEqual(parseSettingsPatch({ mfaRequired: true }), { mfaRequired: true });
    assert.deepEqual(parseSettingsPatch({ mfaRequired: false, sessionMaxHours: 2 }), { mfaRequired: false, sessionMaxHours: 2 });
    assert.deepEqual(parseSettingsPatch({ mfaRequired: null }), { mfaRequired: null });
    for (const body of [{ mfaRequired: 'true' }, { mfaRequired: 1 }, { mfaRequired: 0 }, { mfaRequired: {} }, { mfaRequired: [] }, { mfaRequire: true }]) {
      assert.throws(() => parseSettingsPatch(body), (err: unknown) => isHavenError(err) && err.code === 'AUTH_SETTINGS_INVALID', JSON.stringify(body));
    }
  });
});

describe('tenant settings: sessions follow the tenant, others keep the default', () => {
  let t: TestDb;
  const other = 'tenant-b' as TenantId;
  before(async () => {
    t = await createTestDb();
  });
  after(() => t.drop());

  it('idle and absolute time-outs per tenant, applied to live sessions at once', async () => {
    const clock = manualClock(Date.UTC(2026, 5, 1, 8));
    const settings = createTenantSettings({ db: t.db, clock, defaults: { sessionIdleMinutes: 15, sessionMaxHours: 8, mfaRequired: false } });
    const sessions = createSessionStore({ db: t.db, policy: (tenant) => settings.sessionPolicy(tenant) });
    const signedIn = async (tenant: TenantId) => {
      const anon = await sessions.create(tenant, clock.now());
      return (await sessions.login(tenant, anon.session, 'u1', true, clock.now())).id;
    };
    const a = await signedIn(DEFAULT_TENANT);
    const b = await signedIn(other);
    clock.advance(6 * 60);
    assert.ok(await sessions.load(DEFAULT_TENANT, a, clock.now()), 'default: 15 idle minutes');
    await settings.update(DEFAULT_TENANT, { sessionIdleMinutes: 5 }, 'admin');
    clock.advance(6 * 60);
    assert.equal(await sessions.load(DEFAULT_TENANT, a, clock.now()), undefined, 'the tenant’s 5 minutes end the idle session');
    assert.ok(await sessions.load(other, b, clock.now()), 'another tenant keeps the default');

    // Absolute lifetime: shortening it ends sessions older than the new limit, however busy.
    const busy = await signedIn(DEFAULT_TENANT);
    for (let i = 0; i < 30; i++) {
      clock.advance(4 * 60);
      assert.ok(await sessions.load(DEFAULT_TENANT, busy, clock.now()), `busy at ${i}`);
    }
    await settings.update(DEFAULT_TENANT, { sessionMaxHours: 1 }, 'admin');
    assert.equal(await sessions.load(DEFAULT_TENANT, busy, clock.now()), undefined, 'two hours old: past the new one-hour limit');
    const fresh = await signedIn(DEFAULT_TENANT);
    const row = await t.db.query<{ expires_at: Date; created_at: Date }>('SELECT expires_at, created_at FROM auth_session WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC LIMIT 1', [DEFAULT_TENANT, 'u1']);
    assert.equal(row.rows[0]!.expires_at.getTime() - row.rows[0]!.created_at.getTime(), 3_600_000, 'new sessions get the tenant’s lifetime');
    assert.ok(await sessions.load(DEFAULT_TENANT, fresh, clock.now()));

    // null returns to the default.
    assert.deepEqual(await settings.update(DEFAULT_TENANT, { sessionIdleMinutes: null, sessionMaxHours: null }, 'admin'), {});
    assert.deepEqual((await settings.describe(DEFAULT_TENANT)).effective, { sessionIdleMinutes: 15, sessionMaxHours: 8, mfaRequired: false });
  });

  it('mfaRequired per tenant; a malformed stored value falls back to the default', async () => {
    const clock = manualClock(Date.UTC(2026, 5, 1, 8));
    const settings = createTenantSettings({ db: t.db, clock, defaults: { sessionIdleMinutes: 15, sessionMaxHours: 8, mfaRequired: false } });
    assert.equal(await settings.mfaRequired(DEFAULT_TENANT), false);
    assert.deepEqual(await settings.update(DEFAULT_TENANT, { mfaRequired: true }, 'admin'), { mfaRequired: true });
    assert.equal(await settings.mfaRequired(DEFAULT_TENANT), true);
    assert.equal(await settings.mfaRequired(other), false, 'another tenant keeps the default');
    await t.db.query(`UPDATE tenant_setting SET settings = '{"mfaRequired": "yes"}'::jsonb WHERE tenant_id = $1`, [DEFAULT_TENANT]);
    const fresh = createTenantSettings({ db: t.db, clock, defaults: { sessionIdleMinutes: 15, sessionMaxHours: 8, mfaRequired: false } });
    assert.equal(await fresh.mfaRequired(DEFAULT_TENANT), false);
    await fresh.update(DEFAULT_TENANT, { mfaRequired: null }, 'admin');
  });
});

describe('tenant settings: admin API and the sign-in flow', () => {
  let s: TestServer;
  const PASSWORD = 'the right passphrase 31';

  before(async () => {
    s = await startTestServer({ HAVEN_SESSION_IDLE_MINUTES: '20' });
    const patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient' } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'idle-app', name: 'Idle', scopes: 'patient/*.rs', redirectUris: [REDIRECT] })).status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'pat', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
  });
  after(() => s.close());

  async function settings(method: 'GET' | 'PATCH', body?: unknown, token?: string | null): Promise<{ status: number; body: any }> {
    const auth: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token ?? (await s.token())}` };
    const res = await fetch(`${s.baseUrl}/auth/admin/settings`, {
      method,
      headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await res.json() };
  }

  it('GET shows the defaults; PATCH overrides, is audited, and refuses bad values and callers without a token', async () => {
    const initial = await settings('GET');
    assert.equal(initial.status, 200);
    assert.deepEqual(initial.body.effective, { sessionIdleMinutes: 20, sessionMaxHours: 8, mfaRequired: false });
    assert.deepEqual(initial.body.overrides, {});
    const changed = await settings('PATCH', { sessionIdleMinutes: 2 });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    assert.deepEqual(changed.body.effective, { sessionIdleMinutes: 2, sessionMaxHours: 8, mfaRequired: false });
    assert.deepEqual(changed.body.overrides, { sessionIdleMinutes: 2 });
    const bad = await settings('PATCH', { sessionIdleMinutes: 0 });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /AUTH_SETTINGS_INVALID/);
    assert.equal((await settings('PATCH', { sessionIdleMinutes: 30 }, null)).status, 401);
    const audit = await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE '%auth.settings-changed%'");
    assert.ok(audit.rowCount! >= 1, 'the change is audited');
  });

  it('a sign-in session idle longer than the tenant’s time-out is gone', async () => {
    assert.equal((await settings('PATCH', { sessionIdleMinutes: 2 })).status, 200);
    const b = new Browser(s.baseUrl);
    const page = await b.go(authorizeUrl(s, { client_id: 'idle-app', scope: 'patient/Patient.rs', code_challenge: pkce().challenge }));
    const consent = await login(b, page, 'pat', PASSWORD);
    assert.equal(consent.status, 200);
    assert.match(consent.html, /Allow/);
    // Three idle minutes: under the 20-minute default the session would live, under the tenant's 2 it ends.
    await s.testDb.db.query("UPDATE auth_session SET last_seen_at = last_seen_at - interval '3 minutes'");
    const request = new URL(formAction(consent.html), s.baseUrl).searchParams.get('request')!;
    const again = await b.go(`/auth/flow?request=${encodeURIComponent(request)}`);
    assert.doesNotMatch(again.html, /Allow/, 'the approval page is not shown any more');
    assert.equal((await settings('PATCH', { sessionIdleMinutes: null })).body.effective.sessionIdleMinutes, 20);
  });

  it('mfaRequired: non-admin users must pass MFA at sign-in; the change is audited and validated', async () => {
    const signIn = async (username: string) => {
      const b = new Browser(s.baseUrl);
      const page = await b.go(authorizeUrl(s, { client_id: 'idle-app', scope: 'patient/Patient.rs', code_challenge: pkce().challenge }));
      return { b, page: await login(b, page, username, PASSWORD) };
    };
    assert.match((await signIn('pat')).page.html, /Allow/, 'by default only admin roles need MFA');
    assert.equal((await settings('PATCH', { mfaRequired: 'yes' })).status, 400);
    const on = await settings('PATCH', { mfaRequired: true });
    assert.equal(on.status, 200, JSON.stringify(on.body));
    assert.equal(on.body.effective.mfaRequired, true);
    const audit = await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE '%mfaRequired=true%'");
    assert.ok(audit.rowCount! >= 1, 'the change is audited with what changed');

    // Without an authenticator the user is taken to enrolment (test/http/totp-enrolment.test.ts), and gets no further without a valid code.
    const blocked = await signIn('pat');
    assert.match(blocked.page.html, /id="code"/);
    assert.match(blocked.page.html, /Set up your authenticator app/);
    assert.doesNotMatch(blocked.page.html, /Allow/);
    const guessed = await blocked.b.go(formAction(blocked.page.html), { csrf: csrf(blocked.page.html), code: '123456' });
    assert.doesNotMatch(guessed.html, /Allow/);

    // With one, the code opens the way.
    const created = await admin(s, '/auth/admin/users', { username: 'pat2', password: PASSWORD, roles: ['patient'], patient: 'Patient/x', totp: true });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const secret = new URL(created.body.totpUri as string).searchParams.get('secret')!;
    const asked = await signIn('pat2');
    assert.match(asked.page.html, /id="code"/);
    const passed = await asked.b.go(formAction(asked.page.html), { csrf: csrf(asked.page.html), code: currentTotp(secret, new Date()) });
    assert.match(passed.html, /Allow/);

    const off = await settings('PATCH', { mfaRequired: null });
    assert.equal(off.body.effective.mfaRequired, false);
    assert.match((await signIn('pat')).page.html, /Allow/);
  });
});

