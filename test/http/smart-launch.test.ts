import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, postForm, REDIRECT, tokenRequest } from './smart-support.js';

const PASSWORD = 'correct horse battery staple';
const APP_SCOPES = 'openid fhirUser launch launch/patient offline_access online_access patient/*.rs patient/*.read user/*.rs';

describe('SMART App Launch: standalone launch of a public client by a patient', () => {
  let s: TestServer;
  let alice: string; // Patient ids
  let bob: string;
  let aliceObs: string;
  let bobObs: string;

  before(async () => {
    s = await startTestServer();
    const patient = async (family: string) => (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family }] } })).body.id as string;
    const obs = async (p: string) =>
      (await s.fhir('/Observation', { method: 'POST', json: { resourceType: 'Observation', status: 'final', code: { text: 'pulse' }, subject: { reference: `Patient/${p}` } } })).body.id as string;
    alice = await patient('Alice');
    bob = await patient('Bob');
    aliceObs = await obs(alice);
    bobObs = await obs(bob);
    await obs(bob);
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'app-public', name: 'Pulse <App>', scopes: APP_SCOPES, redirectUris: [REDIRECT] })).status, 201);
    const introspector = await admin(s, '/auth/admin/clients', { clientId: 'rs', name: 'Resource server', scopes: 'openid', authMethod: 'client_secret_basic', redirectUris: [REDIRECT] });
    assert.equal(introspector.status, 201);
    process.env['SMART_TEST_RS_SECRET'] = introspector.body.clientSecret;
    assert.equal((await admin(s, '/auth/admin/users', { username: 'alice', password: PASSWORD, roles: ['patient'], patient: `Patient/${alice}` })).status, 201);
  });
  after(() => s.close());

  const introspect = (token: string) => postForm(s, '/auth/introspect', { token }, `rs:${process.env['SMART_TEST_RS_SECRET']}`);

  it('authorize → login → consent → code → token → FHIR read → refresh rotation → reuse revokes the family', async () => {
    const b = new Browser(s.baseUrl);
    const { verifier, challenge } = pkce();
    const scope = 'openid fhirUser launch/patient offline_access patient/Patient.rs patient/Observation.rs';
    const loginPage = await b.go(authorizeUrl(s, { client_id: 'app-public', scope, code_challenge: challenge }));
    assert.equal(loginPage.status, 200);
    assert.match(loginPage.html, /<label for="password">/);
    assert.match(loginPage.html, /Pulse &#60;App&#62;/, 'client name is escaped');
    const [cookieName] = [...b.cookies.keys()];
    assert.equal(cookieName, 'haven_session');
    const consent = await login(b, loginPage, 'alice', PASSWORD);
    assert.equal(consent.status, 200);
    assert.match(consent.html, /Allow/);
    assert.match(consent.html, /patient\/Observation\.rs/);
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: ['patient/Patient.rs', 'patient/Observation.rs'] });
    assert.equal(back.status, 303);
    const { code, state } = codeFrom(back.location);
    assert.ok(code);
    assert.equal(state, 'st-1');

    const t = await tokenRequest(s, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'app-public', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.equal(t.headers.get('cache-control'), 'no-store');
    assert.equal(t.headers.get('pragma'), 'no-cache');
    assert.equal(t.body.token_type, 'Bearer');
    assert.equal(typeof t.body.expires_in, 'number');
    assert.ok(t.body.expires_in <= 900);
    assert.equal(t.body.patient, alice);
    assert.equal(t.body.need_patient_banner, true);
    assert.deepEqual(t.body.scope.split(' ').sort(), scope.split(' ').sort());
    assert.ok(t.body.refresh_token);

    // id_token: RS256, verifiable from the JWKS, with a resolvable fhirUser.
    const jwks = createRemoteJWKSet(new URL(`${s.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(t.body.id_token, jwks, { issuer: s.baseUrl, audience: 'app-public' });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload['fhirUser'], `${s.fhirUrl}/Patient/${alice}`);
    const me = await s.fhir(`/Patient/${alice}`, { token: t.body.access_token });
    assert.equal(me.status, 200);

    // Refresh: rotated on use.
    const r1 = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: 'app-public' });
    assert.equal(r1.status, 200, JSON.stringify(r1.body));
    assert.notEqual(r1.body.refresh_token, t.body.refresh_token);
    assert.equal((await s.fhir(`/Observation/${aliceObs}`, { token: r1.body.access_token })).status, 200);
    const refreshInfo = (await introspect(r1.body.refresh_token)).body;
    assert.equal(refreshInfo.active, true);
    // ONC (g)(10): no less than three months, from any start date; the longest three calendar months are 92 days (July 1 → October 1).
    assert.ok(refreshInfo.exp >= Date.now() / 1000 + 92 * 86_400 - 60, `offline_access refresh tokens last at least 3 months (${((refreshInfo.exp - Date.now() / 1000) / 86_400).toFixed(1)} days)`);
    const live = (await introspect(r1.body.access_token)).body;
    assert.equal(live.active, true);
    assert.equal(live.patient, alice);
    assert.equal(live.client_id, 'app-public');

    // Escalation at refresh is refused.
    const wider = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token, client_id: 'app-public', scope: 'patient/*.rs' });
    assert.equal(wider.status, 400);
    assert.equal(wider.body.error, 'invalid_scope');

    // Reuse of the rotated token: the whole family is revoked.
    const reuse = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: 'app-public' });
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    const after = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token, client_id: 'app-public' });
    assert.equal(after.status, 400, 'the newest refresh token of the family is dead too');
    assert.equal((await s.fhir(`/Patient/${alice}`, { token: r1.body.access_token })).status, 401, 'access tokens of the family are refused at once');
    assert.deepEqual((await introspect(r1.body.access_token)).body, { active: false });
    assert.deepEqual((await introspect(r1.body.refresh_token)).body, { active: false });
    assert.deepEqual((await introspect('not-a-token')).body, { active: false });

    const audit = await s.testDb.db.query<{ c: string }>("SELECT convert_from(canonical, 'UTF8') AS c FROM audit_entry WHERE action = 'login'");
    const ops = audit.rows.map((r) => /"operation":"(auth\.[a-z-]+)"/.exec(r.c)?.[1]).filter(Boolean);
    for (const op of ['auth.login', 'auth.consent', 'auth.code-issued', 'auth.token-issued', 'auth.token-refreshed', 'auth.refresh-reuse']) {
      assert.ok(ops.includes(op), `audited: ${op} (have ${[...new Set(ops)].join(', ')})`);
    }
  });

  it('a patient token reads and searches only its own compartment', async () => {
    const token = await patientToken(s, 'patient/Patient.rs patient/Observation.rs');
    assert.equal((await s.fhir(`/Observation/${aliceObs}`, { token })).status, 200);
    assert.equal((await s.fhir(`/Observation/${bobObs}`, { token })).status, 403);
    assert.equal((await s.fhir(`/Patient/${bob}`, { token })).status, 403);
    assert.equal((await s.fhir(`/Observation/does-not-exist`, { token })).status, 403, 'existence is not revealed');
    const obs = await s.fhir('/Observation', { token });
    assert.equal(obs.status, 200);
    assert.deepEqual(obs.body.entry.map((e: any) => e.resource.subject.reference), [`Patient/${alice}`]);
    const other = await s.fhir(`/Observation?subject=Patient/${bob}`, { token });
    assert.equal(other.body.entry?.length ?? 0, 0);
    const patients = await s.fhir('/Patient', { token });
    assert.deepEqual(patients.body.entry.map((e: any) => e.resource.id), [alice]);
    assert.equal((await s.fhir(`/Observation/${bobObs}/_history`, { token })).status, 403);
    assert.equal((await s.fhir(`/Observation/${aliceObs}/_history`, { token })).status, 200);
    assert.equal((await s.fhir('/Observation/_history', { token })).status, 403);
    assert.equal((await s.fhir(`/Patient?_id=${bob}`, { token })).body.entry?.length ?? 0, 0);
    const rev = await s.fhir(`/Patient?_revinclude=Observation:subject`, { token });
    assert.equal(rev.status, 200, 'includes run, limited to the compartment');
    assert.deepEqual(rev.body.entry.map((e: any) => `${e.resource.resourceType}/${e.resource.id}`).sort(), [`Observation/${aliceObs}`, `Patient/${alice}`].sort());
    const posted = await s.fhir('/Observation/_search', { method: 'POST', token, body: `subject=Patient/${bob}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(posted.status, 200);
    assert.equal(posted.body.entry?.length ?? 0, 0);
    const batch = await s.fhir('', {
      method: 'POST',
      token,
      json: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: `Observation/${bobObs}` } }, { request: { method: 'GET', url: `Observation/${aliceObs}` } }] },
    });
    assert.deepEqual(batch.body.entry.map((e: any) => e.response.status.slice(0, 3)), ['403', '200']);
    assert.equal((await s.fhir('/Observation', { method: 'POST', token, json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${alice}` } } })).status, 403);
  });

  it('a patient who unticks resource types at approval gets exactly those types refused', async () => {
    const cond = (await s.fhir('/Condition', { method: 'POST', json: { resourceType: 'Condition', code: { text: 'asthma' }, subject: { reference: `Patient/${alice}` } } })).body.id as string;
    const asked = 'patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/Encounter.rs';
    const token = await patientToken(s, asked, ['patient/Patient.rs', 'patient/Condition.rs']);
    const granted = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).scope as string;
    assert.deepEqual(granted.split(' ').sort(), ['patient/Condition.rs', 'patient/Patient.rs'], 'the token carries the ticked types only');
    // Kept: read and search work.
    assert.equal((await s.fhir(`/Patient/${alice}`, { token })).status, 200);
    assert.equal((await s.fhir(`/Condition/${cond}`, { token })).status, 200);
    assert.equal((await s.fhir('/Condition', { token })).status, 200);
    // Unticked: refused on read, search and history, though the client may have them and they were asked for.
    for (const path of [`/Observation/${aliceObs}`, '/Observation', `/Observation?subject=Patient/${alice}`, `/Observation/${aliceObs}/_history`, '/Encounter']) {
      assert.equal((await s.fhir(path, { token })).status, 403, path);
    }
    const included = await s.fhir(`/Patient?_id=${alice}&_revinclude=Observation:subject`, { token });
    assert.ok(!(included.body.entry ?? []).some((e: any) => e.resource.resourceType === 'Observation'), 'nor reached through an include');
  });

  it('refuses plain PKCE, a wrong aud and an unregistered redirect_uri (the last without redirecting)', async () => {
    const b = new Browser(s.baseUrl);
    const plain = await b.request(authorizeUrl(s, { client_id: 'app-public', scope: 'patient/*.rs', code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }));
    assert.equal(plain.status, 302);
    assert.equal(codeFrom(plain.location).error, 'invalid_request');
    assert.equal(codeFrom(plain.location).code, null);
    const aud = await b.request(authorizeUrl(s, { client_id: 'app-public', scope: 'patient/*.rs', code_challenge: pkce().challenge, aud: 'https://evil.example/fhir' }));
    assert.equal(codeFrom(aud.location).error, 'invalid_request');
    assert.equal(codeFrom(aud.location).code, null, 'a wrong aud yields no code');
    const redirect = await b.request(authorizeUrl(s, { client_id: 'app-public', scope: 'patient/*.rs', code_challenge: pkce().challenge, redirect_uri: 'http://127.0.0.1:9/callback/other' }));
    assert.equal(redirect.status, 400);
    assert.equal(redirect.location, undefined);
    assert.match(redirect.html, /redirect_uri is not registered/);
    // Another host, a prefix of the registered URI, one with a query added, a fragment, none at all: shown, never redirected.
    for (const uri of ['https://evil.example/callback', 'http://127.0.0.1:9/call', `${REDIRECT}?next=x`, `${REDIRECT}#f`, '']) {
      const res = await b.request(authorizeUrl(s, { client_id: 'app-public', scope: 'patient/*.rs', code_challenge: pkce().challenge, redirect_uri: uri }));
      assert.equal(res.status, 400, uri);
      assert.equal(res.location, undefined, uri);
    }
  });

  it('refuses a missing, wrong or challenge-equal code_verifier, and a code used twice', async () => {
    const { verifier, challenge } = pkce();
    const code = await patientCode(s, 'patient/Patient.rs', challenge);
    const base = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'app-public' };
    assert.equal((await tokenRequest(s, base)).status, 400);
    assert.equal((await tokenRequest(s, { ...base, code_verifier: '' })).status, 400);
    assert.equal((await tokenRequest(s, { ...base, code_verifier: challenge })).status, 400);
    // The failed exchange consumed the code: the right verifier is now too late.
    const late = await tokenRequest(s, { ...base, code_verifier: verifier });
    assert.equal(late.status, 400);
    assert.equal(late.body.error, 'invalid_grant');
    assert.equal((await tokenRequest(s, { ...base, code: 'bogus', code_verifier: verifier })).status, 400);
  });

  it('locks the account after repeated failures, with a generic message', async () => {
    await admin(s, '/auth/admin/users', { username: 'mallory-target', password: PASSWORD, roles: ['patient'], patient: `Patient/${bob}` });
    const b = new Browser(s.baseUrl);
    let page = await b.go(authorizeUrl(s, { client_id: 'app-public', scope: 'patient/Patient.rs', code_challenge: pkce().challenge }));
    for (let i = 0; i < 5; i++) {
      page = await login(b, page, 'mallory-target', `wrong password ${i}`);
      assert.equal(page.status, 401);
      assert.match(page.html, /Sign-in failed/);
    }
    const locked = await login(b, page, 'mallory-target', PASSWORD);
    assert.equal(locked.status, 401, 'the right password is refused while locked');
    assert.match(locked.html, /Sign-in failed/);
    const unknown = await login(b, locked, 'nobody-at-all', PASSWORD);
    assert.equal(unknown.html.match(/role="alert"[^>]*>([^<]+)/)?.[1], locked.html.match(/role="alert"[^>]*>([^<]+)/)?.[1], 'same text for unknown users');
    const row = await s.testDb.db.query<{ failed_count: number; locked_until: Date }>("SELECT failed_count, locked_until FROM app_user WHERE username = 'mallory-target'");
    assert.equal(row.rows[0]!.failed_count, 5);
    assert.ok(row.rows[0]!.locked_until > new Date());
    const audit = await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE '%auth.lockout%'");
    assert.ok(audit.rowCount! >= 1);
  });

  async function patientCode(server: TestServer, scope: string, challenge: string, approve = scope.split(' ')): Promise<string> {
    const b = new Browser(server.baseUrl);
    const page = await b.go(authorizeUrl(server, { client_id: 'app-public', scope, code_challenge: challenge }));
    const consent = await login(b, page, 'alice', PASSWORD);
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: approve });
    return codeFrom(back.location).code!;
  }

  async function patientToken(server: TestServer, scope: string, approve?: string[]): Promise<string> {
    const { verifier, challenge } = pkce();
    const code = await patientCode(server, scope, challenge, approve);
    const t = await tokenRequest(server, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'app-public', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return t.body.access_token as string;
  }
});
