import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, formAction, csrf, login, pkce, REDIRECT } from './smart-support.js';

const APP = 'http://localhost:4999';

describe('CORS for browser apps, and the sign-in pages CSP', () => {
  let s: TestServer;

  before(async () => {
    s = await startTestServer();
    const patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Cors' }] } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'cors-app', name: 'Cors app', scopes: 'patient/*.rs', redirectUris: [REDIRECT] })).status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'cora', password: 'cora passphrase 123', roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
  });
  after(() => s.close());

  const preflight = (path: string, method: string, headers = 'authorization') =>
    fetch(`${s.baseUrl}${path}`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': method, 'access-control-request-headers': headers } });

  it('answers preflights of the FHIR API and the token endpoints without a token', async () => {
    const fhir = await preflight('/fhir/Patient/abc', 'GET', 'authorization, accept');
    assert.equal(fhir.status, 204);
    assert.equal(fhir.headers.get('access-control-allow-origin'), '*');
    assert.match(fhir.headers.get('access-control-allow-methods')!, /\bGET\b.*\bDELETE\b/);
    assert.equal(fhir.headers.get('access-control-allow-headers'), 'authorization, accept');
    assert.equal(fhir.headers.get('access-control-allow-credentials'), null, 'never with credentials');
    const odd = await preflight('/fhir/Patient', 'POST', 'authorization, x-secret-header');
    assert.equal(odd.headers.get('access-control-allow-headers'), 'authorization', 'unlisted headers are not granted');
    const token = await preflight('/auth/token', 'POST', 'content-type');
    assert.equal(token.status, 204);
    assert.equal(token.headers.get('access-control-allow-methods'), 'POST');
    assert.equal((await preflight('/fhir/.well-known/smart-configuration', 'GET')).headers.get('access-control-allow-methods'), 'GET');
  });

  it('gives no CORS to the admin API and the cookie-bound sign-in pages', async () => {
    const adminApi = await preflight('/auth/admin/users', 'POST', 'authorization, content-type');
    assert.notEqual(adminApi.status, 204);
    assert.equal(adminApi.headers.get('access-control-allow-origin'), null);
    const flow = await preflight('/auth/flow/login', 'POST', 'content-type');
    assert.equal(flow.headers.get('access-control-allow-origin'), null);
    const page = await fetch(`${s.baseUrl}${authorizeUrl(s, { client_id: 'cors-app', scope: 'patient/*.rs', code_challenge: pkce().challenge })}`, { headers: { origin: APP }, redirect: 'manual' });
    assert.equal(page.headers.get('access-control-allow-origin'), null);
  });

  it('lets a browser app read discovery, metadata, FHIR answers and their 401s', async () => {
    for (const path of ['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration', '/fhir/metadata', '/.well-known/jwks.json']) {
      const res = await fetch(`${s.baseUrl}${path}`, { headers: { origin: APP } });
      assert.equal(res.status, 200, path);
      assert.equal(res.headers.get('access-control-allow-origin'), '*', path);
    }
    const denied = await fetch(`${s.fhirUrl}/Patient`, { headers: { origin: APP, authorization: 'Bearer nope' } });
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('access-control-allow-origin'), '*', 'the app must see the 401 to refresh its token');
    assert.match(denied.headers.get('access-control-expose-headers')!, /WWW-Authenticate/);
    const created = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient' }, headers: { origin: APP } });
    assert.equal(created.headers.get('access-control-allow-origin'), '*');
    assert.match(created.headers.get('access-control-expose-headers')!, /Location.*ETag/);
  });

  it('lets the consent form redirect to the app, and no other form leave Haven', async () => {
    const b = new Browser(s.baseUrl);
    const loginPage = await b.go(authorizeUrl(s, { client_id: 'cors-app', scope: 'patient/*.rs', code_challenge: pkce().challenge }));
    const cspOf = async (url: string) => (await fetch(`${s.baseUrl}${url}`, { headers: { cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } })).headers.get('content-security-policy')!;
    assert.match(await cspOf(formAction(loginPage.html).replace('/auth/flow/login', '/auth/flow')), /form-action 'self';/);
    const consent = await login(b, loginPage, 'cora', 'cora passphrase 123');
    assert.match(consent.html, /Allow/);
    assert.ok(csrf(consent.html));
    const csp = consent.headers.get('content-security-policy')!;
    assert.match(csp, new RegExp(`form-action 'self' ${new URL(REDIRECT).origin};`));
    assert.match(csp, /default-src 'none'/);
  });
});
