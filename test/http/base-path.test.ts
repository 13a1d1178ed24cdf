import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { basePathOf, publicPath, publicUrl, stripBasePath } from '../../src/http/base-path.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { strippingProxy } from './proxy-support.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, login, pkce, REDIRECT, tokenRequest } from './smart-support.js';

/**
 * HAVEN_BASE_URL with a path (https://host/haven; docs/configuration.md): every
 * absolute URL carries the prefix, every path in a page or redirect too, and the
 * server answers whether the reverse proxy keeps the prefix or strips it.
 */
const PASSWORD = 'a long enough passphrase 9';
const SCOPE = 'openid patient/Patient.rs';

describe('base path helpers', () => {
  it('derive the prefix, strip it from requests that carry it, and add it to Haven paths', () => {
    assert.equal(basePathOf('https://h.example/haven/'), '/haven');
    assert.equal(basePathOf('https://h.example'), '');
    assert.equal(stripBasePath('/haven/auth/flow?request=x', '/haven'), '/auth/flow?request=x');
    assert.equal(stripBasePath('/haven', '/haven'), '/');
    assert.equal(stripBasePath('/haven?x=1', '/haven'), '/?x=1');
    assert.equal(stripBasePath('/havenly/fhir', '/haven'), '/havenly/fhir', 'only a whole path segment');
    assert.equal(stripBasePath('/auth/flow', '/haven'), '/auth/flow', 'a stripped request is left alone');
    assert.equal(stripBasePath('/haven/fhir', ''), '/haven/fhir');
    assert.equal(publicPath('/auth/flow?request=x', '/haven'), '/haven/auth/flow?request=x');
    assert.equal(publicPath('https://app.example/cb?code=1', '/haven'), 'https://app.example/cb?code=1');
    assert.equal(publicPath('//evil.example/', '/haven'), '//evil.example/');
  });

  it('the federated callback URL seen by the flow is the registered redirect_uri, with or without a stripping proxy', () => {
    const base = 'https://h.example/haven';
    const redirectUri = `${base}/auth/federated/okta/callback`; // as identity.ts builds it
    for (const seen of ['/auth/federated/okta/callback?code=c&state=s', '/haven/auth/federated/okta/callback?code=c&state=s']) {
      const url = publicUrl(seen, base);
      assert.equal(`${url.origin}${url.pathname}`, redirectUri);
      assert.equal(url.pathname, new URL(redirectUri).pathname, 'the provider is found by this path');
      assert.equal(url.searchParams.get('state'), 's');
    }
    assert.equal(publicUrl('/auth/federated/callback', 'https://h.example').pathname, '/auth/federated/callback');
  });
});

describe('HAVEN_BASE_URL with a path prefix', () => {
  let s: TestServer;
  let proxy: { server: Server; origin: string };
  let patient: string;
  let serverOrigin: string;

  before(async () => {
    s = await startTestServer({}, { basePath: '/haven' });
    serverOrigin = new URL(s.baseUrl).origin;
    proxy = await strippingProxy(() => serverOrigin);
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Prefix' }] } })).body.id as string;
    assert.equal((await admin(s, '/auth/admin/clients', { clientId: 'prefix-app', name: 'Prefix app', scopes: SCOPE, redirectUris: [REDIRECT] })).status, 201);
    assert.equal((await admin(s, '/auth/admin/users', { username: 'pia', password: PASSWORD, roles: ['patient'], patient: `Patient/${patient}` })).status, 201);
  });
  after(async () => {
    await new Promise((resolve) => proxy.server.close(resolve));
    await s.close();
  });

  it('discovery and FHIR links carry the prefix', async () => {
    const conf = (await (await fetch(`${s.baseUrl}/.well-known/smart-configuration`)).json()) as Record<string, string>;
    for (const key of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'introspection_endpoint', 'revocation_endpoint']) {
      assert.ok(conf[key]!.startsWith(`${serverOrigin}/haven`), `${key}: ${conf[key]}`);
    }
    const bundle = await s.fhir('/Patient');
    assert.equal(bundle.status, 200);
    assert.ok((bundle.body.link as Array<{ url: string }>).every((l) => l.url.startsWith(`${serverOrigin}/haven/fhir`)));
  });

  /** A whole standalone launch from a browser at `origin` (the server itself, or the proxy): every step under /haven. */
  async function launchThrough(origin: string) {
    const { verifier, challenge } = pkce();
    const b = new Browser(origin);
    const first = await b.request(`/haven${authorizeUrl(s, { client_id: 'prefix-app', scope: SCOPE, code_challenge: challenge })}`);
    assert.equal(first.status, 302, first.html.slice(0, 200));
    assert.match(first.location!, /^\/haven\/auth\/flow\?request=/, 'the redirect keeps the prefix');
    const page = await b.go(first.location!);
    assert.equal(page.status, 200);
    assert.match(formAction(page.html), /^\/haven\/auth\/flow\/login\?request=/, 'the form posts under the prefix');
    const consent = await login(b, page, 'pia', PASSWORD);
    assert.match(consent.html, /Allow/, consent.html.slice(0, 300));
    assert.match(formAction(consent.html), /^\/haven\/auth\/flow\/consent/);
    const back = await b.go(formAction(consent.html), { csrf: csrf(consent.html), decision: 'approve', scope: 'patient/Patient.rs' });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'prefix-app', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const read = await fetch(`${origin}/haven/fhir/Patient/${patient}`, { headers: { authorization: `Bearer ${t.body.access_token}` } });
    assert.equal(read.status, 200, 'the token (audience with the prefix) is accepted');
  }

  it('a proxy that keeps the prefix: the whole sign-in and a FHIR read work under /haven', async () => {
    await launchThrough(serverOrigin);
  });

  it('a proxy that strips the prefix: the same sign-in and read work through it', async () => {
    await launchThrough(proxy.origin);
    assert.equal((await fetch(`${proxy.origin}/auth/flow`)).status, 404, 'only /haven is proxied (the browser never leaves the prefix)');
  });
});
