import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, REDIRECT, tokenRequest } from './smart-support.js';

/**
 * An admin reset of a user's authenticator, and disabling the account, cut the
 * user off at once (docs/security/identity.md): access tokens issued before are
 * refused at the next request, not when they expire, and refresh tokens stop
 * working. Tokens of other users are untouched.
 */
const PASSWORD = 'a long enough passphrase 9';
const SCOPE = 'openid offline_access patient/Patient.rs';

describe('admin reset and disable revoke the user’s tokens', () => {
  let s: TestServer;
  let patient: string;
  let lastAddress = 0;

  /** A completed sign-in of `username` (no MFA: a patient without an authenticator): its access and refresh tokens. */
  async function tokensOf(username: string): Promise<{ access: string; refresh: string }> {
    const { verifier, challenge } = pkce();
    const b = new Browser(s.baseUrl);
    b.headers = { 'x-forwarded-for': `198.51.100.${++lastAddress}` };
    const start = await b.go(authorizeUrl(s, { client_id: 'cutoff-app', scope: SCOPE, code_challenge: challenge }));
    const consent = await login(b, start, username, PASSWORD);
    assert.match(consent.html, /Allow/, consent.html.slice(0, 300));
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/Patient.rs' });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'cutoff-app', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.ok(t.body.refresh_token);
    return { access: t.body.access_token as string, refresh: t.body.refresh_token as string };
  }
  const read = async (token: string) => (await s.fhir(`/Patient/${patient}`, { token })).status;
  const refresh = async (token: string) => (await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: token, client_id: 'cutoff-app' })).status;
  const adminCall = async (method: string, path: string) => {
    const res = await fetch(`${s.baseUrl}${path}`, { method, headers: { authorization: `Bearer ${await s.token()}` } });
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    s = await startTestServer({ HAVEN_TRUSTED_PROXIES: '127.0.0.1' });
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Cutoff' }] } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'cutoff-app', name: 'Cut-off app', scopes: SCOPE, redirectUris: [REDIRECT] })).status, 201);
    for (const username of ['paul', 'quinn', 'rosa']) {
      assert.equal((await admin(s, '/auth/admin/users', { username, password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
    }
  });
  after(() => s.close());

  it('after an authenticator reset, the user’s earlier access and refresh tokens are refused at once; others’ are not', async () => {
    const paul = await tokensOf('paul');
    const paul2 = await tokensOf('paul');
    const quinn = await tokensOf('quinn');
    assert.equal(await read(paul.access), 200);
    const reset = await adminCall('DELETE', '/auth/admin/users/paul/totp');
    assert.equal(reset.status, 200, JSON.stringify(reset.body));
    assert.equal(reset.body.grantsRevoked, 2, 'both sign-ins');
    assert.equal(await read(paul.access), 401, 'the access token issued before the reset');
    assert.equal(await read(paul2.access), 401);
    assert.ok([400, 401].includes(await refresh(paul.refresh)), 'the refresh token');
    assert.equal(await read(quinn.access), 200, 'another user is not affected');
    const again = await tokensOf('paul');
    assert.equal(await read(again.access), 200, 'a new sign-in works');
  });

  it('disabling a user refuses their tokens and sign-in at once; enabling lets them sign in anew but revives nothing', async () => {
    const rosa = await tokensOf('rosa');
    assert.equal(await read(rosa.access), 200);
    const forbidden = await fetch(`${s.baseUrl}/auth/admin/users/rosa/disable`, { method: 'POST', headers: { authorization: `Bearer ${rosa.access}` } });
    assert.equal(forbidden.status, 403, 'a user token cannot disable anyone');
    assert.equal((await adminCall('POST', '/auth/admin/users/nobody/disable')).status, 404);

    const off = await adminCall('POST', '/auth/admin/users/rosa/disable');
    assert.equal(off.status, 200, JSON.stringify(off.body));
    assert.equal(off.body.disabled, true);
    assert.equal(off.body.grantsRevoked, 1);
    assert.equal(await read(rosa.access), 401, 'refused at the next request');
    assert.ok([400, 401].includes(await refresh(rosa.refresh)));
    const audited = await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE '%auth.user-disabled%'");
    assert.equal(audited.rowCount, 1);

    const b = new Browser(s.baseUrl);
    const start = await b.go(authorizeUrl(s, { client_id: 'cutoff-app', scope: SCOPE, code_challenge: pkce().challenge }));
    const refused = await login(b, start, 'rosa', PASSWORD);
    assert.equal(refused.status, 401, 'a disabled user cannot sign in');

    assert.equal((await adminCall('POST', '/auth/admin/users/rosa/enable')).status, 200);
    assert.equal(await read(rosa.access), 401, 'the old token stays revoked');
    assert.equal(await read((await tokensOf('rosa')).access), 200);
  });
});
