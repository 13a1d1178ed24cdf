import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, postForm, REDIRECT, tokenRequest } from './smart-support.js';

/**
 * The checks of the ONC (g)(10) and SMART App Launch test kits that the
 * launch tests (smart-launch, smart-ehr, smart-granular) do not already make:
 * discovery of private_key_jwt, refresh response headers and fields, granted ⊆
 * requested, a wrong verifier or client_id, revoked refresh tokens, the scope
 * in introspection, v1 scopes, and a resolvable fhirUser.
 */
const PASSWORD = 'test kit passphrase 2026';
const CLIENT_SCOPES = 'openid fhirUser launch/patient offline_access patient/*.rs patient/*.read';

describe('SMART / ONC (g)(10) test-kit checks', () => {
  let s: TestServer;
  let patient: string;
  let rsSecret: string;

  before(async () => {
    s = await startTestServer();
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Kit' }] } })).body.id;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'kit-app', name: 'Kit', scopes: CLIENT_SCOPES, redirectUris: [REDIRECT] })).status, 201);
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'other-app', name: 'Other', scopes: 'patient/*.rs', redirectUris: [REDIRECT] })).status, 201);
    const rs = await admin(s, '/auth/admin/clients', { clientId: 'kit-rs', name: 'RS', scopes: 'openid', authMethod: 'client_secret_basic', redirectUris: [REDIRECT] });
    rsSecret = rs.body.clientSecret;
    assert.equal((await admin(s, '/auth/admin/users', { username: 'kit', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
  });
  after(() => s.close());

  async function code(scope: string): Promise<{ code: string; verifier: string; challenge: string }> {
    const { verifier, challenge } = pkce();
    const b = new Browser(s.baseUrl);
    const consent = await login(b, await b.go(authorizeUrl(s, { client_id: 'kit-app', scope, code_challenge: challenge })), 'kit', PASSWORD);
    const approve = scope.split(' ').filter((x) => x.includes('/') && !x.startsWith('launch'));
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: approve });
    return { code: codeFrom(back.location).code!, verifier, challenge };
  }
  const exchange = (c: { code: string; verifier: string }, extra: Record<string, string> = {}) =>
    tokenRequest(s, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, client_id: 'kit-app', code_verifier: c.verifier, ...extra });

  it('discovery advertises private_key_jwt with RS384 and ES384, S256 only', async () => {
    const c = (await (await fetch(`${s.fhirUrl}/.well-known/smart-configuration`)).json()) as Record<string, string[]>;
    assert.ok(c['token_endpoint_auth_methods_supported']!.includes('private_key_jwt'));
    assert.deepEqual([...c['token_endpoint_auth_signing_alg_values_supported']!].sort(), ['ES384', 'RS384']);
    assert.ok(!c['code_challenge_methods_supported']!.includes('plain'));
    // Patient-scope writes are served inside the compartment, so discovery lists them (v2 and v1 forms).
    for (const scope of ['patient/*.cruds', 'patient/*.rs', 'patient/*.read', 'patient/*.write']) assert.ok(c['scopes_supported']!.includes(scope), scope);
  });

  it('refresh responses carry no-store, no-cache, token_type, numeric expires_in and scope; granted ⊆ requested', async () => {
    const asked = 'launch/patient offline_access patient/Patient.rs';
    const t = await exchange(await code(asked));
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.deepEqual(t.body.scope.split(' ').filter((x: string) => !asked.split(' ').includes(x)), [], 'never a superset of the request');
    const r = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: t.body.refresh_token, client_id: 'kit-app' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('pragma'), 'no-cache');
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(typeof r.body.expires_in, 'number');
    assert.equal(r.body.scope, t.body.scope);
    const narrower = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: r.body.refresh_token, client_id: 'kit-app', scope: 'offline_access patient/Patient.rs' });
    assert.equal(narrower.body.scope, 'offline_access patient/Patient.rs');
    assert.ok(narrower.body.refresh_token);
    // A revoked refresh token is refused (RFC 7009), and so is the grant's access token.
    assert.equal((await postForm(s, '/auth/revoke', { token: narrower.body.refresh_token, client_id: 'kit-app' })).status, 200);
    const dead = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: narrower.body.refresh_token, client_id: 'kit-app' });
    assert.ok([400, 401].includes(dead.status), String(dead.status));
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: narrower.body.access_token })).status, 401);
  });

  it('scopes ticked on the approval form beyond the request are not granted (granted ⊆ requested)', async () => {
    const { verifier, challenge } = pkce();
    const b = new Browser(s.baseUrl);
    const consent = await login(b, await b.go(authorizeUrl(s, { client_id: 'kit-app', scope: 'launch/patient patient/Patient.rs', code_challenge: challenge })), 'kit', PASSWORD);
    // A forged form: the client may have these (patient/*.rs, offline_access), but the app did not ask for them.
    const forged = ['patient/Patient.rs', 'patient/Observation.rs', 'patient/*.rs', 'offline_access', 'system/*.cruds'];
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: forged });
    const t = await exchange({ code: codeFrom(back.location).code!, verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.deepEqual(t.body.scope.split(' ').sort(), ['launch/patient', 'patient/Patient.rs']);
    assert.equal(t.body.refresh_token, undefined, 'no offline_access: no refresh token');
    assert.equal((await s.fhir('/Observation', { token: t.body.access_token })).status, 403);
  });

  it('each of an omitted, blank, wrong or challenge-equal code_verifier, on its own fresh code, gets no token', async () => {
    for (const bad of [undefined, '', 'wrong', 'challenge']) {
      const c = await code('patient/Patient.rs');
      const verifier = bad === 'wrong' ? pkce().verifier : bad === 'challenge' ? c.challenge : bad;
      const form: Record<string, string> = { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT, client_id: 'kit-app', ...(verifier !== undefined ? { code_verifier: verifier } : {}) };
      const res = await tokenRequest(s, form);
      assert.ok([400, 401].includes(res.status), `${bad}: ${res.status}`);
      assert.equal(res.body.access_token, undefined, String(bad));
    }
  });

  it('a wrong code_verifier or another client_id gets no token', async () => {
    const wrong = await code('patient/Patient.rs');
    const other = pkce().verifier;
    const refused = await exchange(wrong, { code_verifier: other });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_grant');
    const stolen = await code('patient/Patient.rs');
    const asOther = await exchange(stolen, { client_id: 'other-app' });
    assert.ok([400, 401].includes(asOther.status), String(asOther.status));
    const asNobody = await exchange(await code('patient/Patient.rs'), { client_id: 'no-such-client' });
    assert.ok([400, 401].includes(asNobody.status), String(asNobody.status));
  });

  it('introspection gives scope, client and patient for a live token', async () => {
    const t = await exchange(await code('launch/patient patient/Patient.rs'));
    const info = (await postForm(s, '/auth/introspect', { token: t.body.access_token }, `kit-rs:${rsSecret}`)).body;
    assert.equal(info.active, true);
    assert.equal(info.scope, t.body.scope);
    assert.equal(info.client_id, 'kit-app');
    assert.equal(info.patient, patient);
    assert.equal(typeof info.exp, 'number');
  });

  it('v1 scopes (patient/*.read style) still work: reads yes, writes no', async () => {
    const t = await exchange(await code('launch/patient patient/Patient.read patient/Observation.read'));
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.ok(t.body.scope.split(' ').includes('patient/Patient.read'));
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: t.body.access_token })).status, 200);
    assert.equal((await s.fhir('/Observation', { token: t.body.access_token })).status, 200);
    const write = await s.fhir('/Observation', { method: 'POST', token: t.body.access_token, json: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: `Patient/${patient}` } } });
    assert.equal(write.status, 403);
  });

  it('the id_token is RS256 from the JWKS and its fhirUser resolves with the access token', async () => {
    const t = await exchange(await code('openid fhirUser launch/patient patient/Patient.rs'));
    const jwks = createRemoteJWKSet(new URL(`${s.baseUrl}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(t.body.id_token, jwks, { issuer: s.baseUrl, audience: 'kit-app', algorithms: ['RS256'] });
    assert.equal(protectedHeader.alg, 'RS256');
    const res = await fetch(String(payload['fhirUser']), { headers: { authorization: `Bearer ${t.body.access_token}` } });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { id: string }).id, patient);
  });
});
