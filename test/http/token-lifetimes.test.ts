import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, REDIRECT, tokenRequest } from './smart-support.js';

/**
 * The three identity planes have their own access-token lifetimes
 * (HAVEN_ACCESS_TOKEN_TTL_MACHINE / _WORKFORCE / _PATIENT, each defaulting to
 * HAVEN_ACCESS_TOKEN_TTL): the token response, the token itself and a refreshed
 * token all carry the plane's lifetime.
 */
const PASSWORD = 'a long enough plane passphrase';
const TTL = { machine: 120, workforce: 600, patient: 240 };

describe('access-token lifetimes per identity plane', () => {
  let s: TestServer;
  let patient: string;

  before(async () => {
    s = await startTestServer({
      HAVEN_ACCESS_TOKEN_TTL: '300',
      HAVEN_ACCESS_TOKEN_TTL_MACHINE: String(TTL.machine),
      HAVEN_ACCESS_TOKEN_TTL_WORKFORCE: String(TTL.workforce),
      HAVEN_ACCESS_TOKEN_TTL_PATIENT: String(TTL.patient),
    });
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Plane' }] } })).body.id;
    const app = await admin(s, '/auth/admin/clients', { clientId: 'plane-app', name: 'Plane app', scopes: 'launch/patient online_access patient/Patient.rs user/Patient.rs', redirectUris: [REDIRECT] });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    assert.equal((await admin(s, '/auth/admin/users', { username: 'plane-patient', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'plane-nurse', password: PASSWORD, roles: ['clinician'] })).status, 201);
  });
  after(() => s.close());

  const lifetime = (jwt: string) => {
    const claims = decodeJwt(jwt);
    return claims.exp! - claims.iat!;
  };

  async function appToken(username: string, scope: string, approve: string[]) {
    const { verifier, challenge } = pkce();
    const b = new Browser(s.baseUrl);
    const consent = await login(b, await b.go(authorizeUrl(s, { client_id: 'plane-app', scope, code_challenge: challenge })), username, PASSWORD);
    assert.match(consent.html, /Allow/, consent.html.slice(0, 300));
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: approve });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'plane-app', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return t.body;
  }

  it('machine clients: HAVEN_ACCESS_TOKEN_TTL_MACHINE', async () => {
    assert.equal(lifetime(await s.token()), TTL.machine);
  });

  it('patients: HAVEN_ACCESS_TOKEN_TTL_PATIENT, also after a refresh', async () => {
    const t = await appToken('plane-patient', 'launch/patient online_access patient/Patient.rs', ['patient/Patient.rs']);
    assert.equal(t.expires_in, TTL.patient);
    assert.equal(lifetime(t.access_token), TTL.patient);
    const r = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: 'plane-app' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.expires_in, TTL.patient);
    assert.equal(lifetime(r.body.access_token), TTL.patient);
  });

  it('workforce users: HAVEN_ACCESS_TOKEN_TTL_WORKFORCE', async () => {
    const t = await appToken('plane-nurse', 'user/Patient.rs', ['user/Patient.rs']);
    assert.equal(t.expires_in, TTL.workforce);
    assert.equal(lifetime(t.access_token), TTL.workforce);
    assert.equal((await s.fhir(`/Patient/${patient}`, { token: t.access_token })).status, 200);
  });
});
