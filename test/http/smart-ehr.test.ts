import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { currentTotp } from '../../src/auth/index.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, postForm, REDIRECT, tokenRequest } from './smart-support.js';

const PASSWORD = 'a long enough admin passphrase';

describe('SMART App Launch: workforce users, MFA, EHR launch, confidential clients', () => {
  let s: TestServer;
  let patient: string;
  let totpSecret: string;
  let clientSecret: string;

  before(async () => {
    s = await startTestServer();
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Carter' }] } })).body.id;
    const conf = await admin(s, '/auth/admin/clients', {
      clientId: 'ehr-app',
      name: 'EHR app',
      scopes: 'openid fhirUser launch launch/patient online_access user/*.rs patient/*.rs',
      redirectUris: [REDIRECT],
      authMethod: 'client_secret_basic',
    });
    assert.equal(conf.status, 201);
    assert.equal(conf.body.secretHash, undefined, 'the hash is never answered');
    clientSecret = conf.body.clientSecret;
    const user = await admin(s, '/auth/admin/users', { username: 'dr-admin', password: PASSWORD, roles: ['clinician', 'admin'] });
    assert.equal(user.status, 201);
    assert.equal(user.body.passwordHash, undefined);
    totpSecret = new URL(user.body.totpUri).searchParams.get('secret')!;
    const stored = await s.testDb.db.query<{ totp_secret: Buffer }>("SELECT totp_secret FROM app_user WHERE username = 'dr-admin'");
    assert.ok(!stored.rows[0]!.totp_secret.toString('latin1').includes(totpSecret), 'the TOTP secret is stored encrypted');
  });
  after(() => s.close());

  // One browser signs in once (password + TOTP) and then reuses its session, as single sign-on does:
  // a TOTP code is accepted once, so a second full login inside the same 30 s step would be refused.
  let b: Browser;
  let usedCode: string | undefined;
  async function signIn(url: string) {
    if (usedCode) return b.go(url);
    b = new Browser(s.baseUrl);
    const first = await b.go(url);
    const mfa = await login(b, first, 'dr-admin', PASSWORD);
    assert.match(mfa.html, /Verification code/, 'admin roles must pass MFA');
    const code = currentTotp(totpSecret, new Date());
    const wrong = await b.go(formAction(mfa.html), { csrf: csrf(mfa.html), code: code === '000000' ? '111111' : '000000' });
    assert.equal(wrong.status, 401);
    usedCode = code;
    return b.go(formAction(wrong.html), { csrf: csrf(wrong.html), code });
  }

  it('EHR launch: launch id → login + MFA → consent → code → token with the launch context (client_secret_basic)', async () => {
    const launch = await admin(s, '/auth/admin/launch', { patient, encounter: 'enc-1' });
    assert.equal(launch.status, 201);
    const { verifier, challenge } = pkce();
    const consent = await signIn(authorizeUrl(s, { client_id: 'ehr-app', scope: 'launch openid online_access patient/Patient.rs', code_challenge: challenge, launch: launch.body.launch }));
    assert.match(consent.html, /Allow/);
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/Patient.rs' });
    const { code } = codeFrom(back.location);
    assert.ok(code);
    const form = { grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT, code_verifier: verifier };
    assert.equal((await tokenRequest(s, form, 'ehr-app:wrong-secret')).status, 401);
    // That failure was client authentication: the code was not consumed.
    const t = await tokenRequest(s, form, `ehr-app:${clientSecret}`);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.patient, patient);
    assert.equal(t.body.encounter, 'enc-1');
    assert.equal(t.body.need_patient_banner, false);
    assert.ok(t.body.refresh_token, 'online_access gives a refresh token');
    // ... whose grant ends with the sign-in session (its absolute time-out), not after HAVEN_OFFLINE_ACCESS_DAYS.
    const online = (await postForm(s, '/auth/introspect', { token: t.body.refresh_token }, `ehr-app:${clientSecret}`)).body;
    const session = await s.testDb.db.query<{ e: Date }>(
      "SELECT a.expires_at AS e FROM auth_session a JOIN app_user u ON u.tenant_id = a.tenant_id AND u.user_id = a.user_id WHERE u.username = 'dr-admin'",
    );
    assert.equal(session.rowCount, 1);
    assert.ok(Math.abs(online.exp - session.rows[0]!.e.getTime() / 1000) <= 1, `online_access ends with the session (${online.exp} vs ${session.rows[0]!.e.toISOString()})`);
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: t.body.access_token })).status, 200);

    // A second use of the code revokes what the first one issued.
    const again = await tokenRequest(s, form, `ehr-app:${clientSecret}`);
    assert.equal(again.status, 400);
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: t.body.access_token })).status, 401);
    assert.deepEqual((await postForm(s, '/auth/introspect', { token: t.body.refresh_token }, `ehr-app:${clientSecret}`)).body, { active: false });
  });

  it('standalone launch by a workforce user: patient picker, user/ scopes, then revocation (RFC 7009)', async () => {
    const { verifier, challenge } = pkce();
    const picker = await signIn(authorizeUrl(s, { client_id: 'ehr-app', scope: 'launch/patient user/Patient.rs patient/Patient.rs', code_challenge: challenge }));
    assert.match(picker.html, /Choose a patient/);
    const missing = await b.go(formAction(picker.html), { csrf: csrf(picker.html), patient: 'no-such-patient' });
    assert.equal(missing.status, 400);
    const consent = await b.go(formAction(missing.html), { csrf: csrf(missing.html), patient: `Patient/${patient}` });
    assert.match(consent.html, /Allow/);
    const bad = await b.request(formAction(consent.html), { csrf: 'forged', decision: 'approve' });
    assert.equal(bad.status, 403, 'CSRF token required');
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: ['user/Patient.rs', 'patient/Patient.rs'] });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, code_verifier: verifier }, `ehr-app:${clientSecret}`);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.body.patient, patient);
    assert.equal(t.body.refresh_token, undefined, 'no offline/online access asked');
    const other = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Other' }] } })).body.id;
    assert.equal((await s.fhir(`/Patient/${other}`, { token: t.body.access_token })).status, 200, 'user/ scope: not limited to the compartment');
    const revoke = await postForm(s, '/auth/revoke', { token: t.body.access_token }, `ehr-app:${clientSecret}`);
    assert.equal(revoke.status, 200);
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: t.body.access_token })).status, 401, 'revoked at once');
  });

  it('denying consent sends access_denied; an idle session is logged off', async () => {
    const consent = await signIn(authorizeUrl(s, { client_id: 'ehr-app', scope: 'user/Patient.rs', code_challenge: pkce().challenge }));
    const denied = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'deny' });
    assert.equal(codeFrom(denied.location).error, 'access_denied');
    assert.equal(codeFrom(denied.location).state, 'st-1');
    // Same browser, still signed in: straight to consent.
    const next = await b.go(authorizeUrl(s, { client_id: 'ehr-app', scope: 'user/Patient.rs', code_challenge: pkce().challenge }));
    assert.match(next.html, /Allow/);
    await s.testDb.db.query("UPDATE auth_session SET last_seen_at = now() - interval '16 minutes'");
    const idle = await b.go(authorizeUrl(s, { client_id: 'ehr-app', scope: 'user/Patient.rs', code_challenge: pkce().challenge }));
    assert.match(idle.html, /<h1>Sign in<\/h1>/, 'idle past HAVEN_SESSION_IDLE_MINUTES: sign in again');
  });

  it('refuses an unknown launch id, and the launch scope without one', async () => {
    const b = new Browser(s.baseUrl);
    const unknown = await b.request(authorizeUrl(s, { client_id: 'ehr-app', scope: 'launch patient/Patient.rs', code_challenge: pkce().challenge, launch: 'made-up' }));
    assert.equal(codeFrom(unknown.location).error, 'invalid_request');
    const missing = await b.request(authorizeUrl(s, { client_id: 'ehr-app', scope: 'launch patient/Patient.rs', code_challenge: pkce().challenge }));
    assert.equal(codeFrom(missing.location).error, 'invalid_request');
    const system = await b.request(authorizeUrl(s, { client_id: 'ehr-app', scope: 'system/*.cruds', code_challenge: pkce().challenge }));
    assert.equal(codeFrom(system.location).error, 'invalid_scope', 'system/ scopes are never granted to a user');
  });

  it('admin roles (admin, *-admin) always need TOTP: enrolled at creation, and without an authenticator the sign-in enrols instead of approving', async () => {
    const created = await admin(s, '/auth/admin/users', { username: 'lab-boss', password: PASSWORD, roles: ['lab-admin'], totp: false });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.match(created.body.totpUri ?? '', /^otpauth:\/\/totp\//, 'enrolled at creation even when totp: false is asked');
    const fresh = new Browser(s.baseUrl);
    const mfa = await login(fresh, await fresh.go(authorizeUrl(s, { client_id: 'ehr-app', scope: 'user/Patient.rs', code_challenge: pkce().challenge })), 'lab-boss', PASSWORD);
    assert.match(mfa.html, /Verification code/);
    assert.doesNotMatch(mfa.html, /Allow/);
    // After an admin reset the account has no authenticator: the password alone still does not reach approval.
    const reset = await fetch(`${s.baseUrl}/auth/admin/users/lab-boss/totp`, { method: 'DELETE', headers: { authorization: `Bearer ${await s.token()}` } });
    assert.equal(reset.status, 200);
    const again = new Browser(s.baseUrl);
    const enrol = await login(again, await again.go(authorizeUrl(s, { client_id: 'ehr-app', scope: 'user/Patient.rs', code_challenge: pkce().challenge })), 'lab-boss', PASSWORD);
    assert.match(enrol.html, /Set up your authenticator app/);
    assert.doesNotMatch(enrol.html, /Allow/);
  });

  it('refuses a replayed TOTP code', async () => {
    const other = new Browser(s.baseUrl);
    const first = await other.go(authorizeUrl(s, { client_id: 'ehr-app', scope: 'user/Patient.rs', code_challenge: pkce().challenge }));
    const mfa = await login(other, first, 'dr-admin', PASSWORD);
    const replay = await other.go(formAction(mfa.html), { csrf: csrf(mfa.html), code: usedCode! });
    assert.equal(replay.status, 401);
    assert.match(replay.html, /not accepted/);
  });

  it('advertises exactly what it supports in .well-known/smart-configuration', async () => {
    const res = await fetch(`${s.baseUrl}/.well-known/smart-configuration`);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    assert.equal((await tokenRequest(s, { grant_type: 'nonsense' })).headers.get('access-control-allow-origin'), '*');
    const c = (await res.json()) as Record<string, any>;
    assert.deepEqual(c.code_challenge_methods_supported, ['S256']);
    for (const key of ['authorization_endpoint', 'token_endpoint', 'introspection_endpoint', 'revocation_endpoint']) assert.ok(c[key]?.startsWith(s.baseUrl), key);
    for (const cap of ['launch-ehr', 'launch-standalone', 'client-public', 'client-confidential-symmetric', 'client-confidential-asymmetric', 'sso-openid-connect', 'permission-v1', 'permission-v2']) {
      assert.ok(c.capabilities.includes(cap), cap);
    }
    const meta = await s.fhir('/metadata', { token: null });
    const uris = meta.body.rest[0].security.extension[0].extension.map((e: any) => [e.url, e.valueUri]);
    assert.deepEqual(Object.fromEntries(uris).authorize, c.authorization_endpoint);
    assert.ok(c.token_endpoint_auth_signing_alg_values_supported.includes('RS384'));
    assert.ok(c.token_endpoint_auth_signing_alg_values_supported.includes('ES384'));
  });
});
