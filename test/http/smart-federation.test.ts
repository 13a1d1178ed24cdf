import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Provider from 'oidc-provider';
import { freePort, startTestServer, type TestServer } from '../support/server.js';
import { strippingProxy } from './proxy-support.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, pkce, REDIRECT, tokenRequest } from './smart-support.js';

/** A real, certified OpenID provider (oidc-provider) on loopback, with its development login pages. */
async function startProvider(port: number, callback: string): Promise<Server> {
  const groups: Record<string, string[]> = { nurse: ['clinicians'], boss: ['haven-admins'], stranger: ['visitors'] };
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{ client_id: 'haven', client_secret: 'haven-secret-at-idp', redirect_uris: [callback], grant_types: ['authorization_code'], response_types: ['code'] }],
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id, preferred_username: id, groups: groups[id] ?? [] }) }),
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['test-cookie-key'] },
  });
  return provider.listen(port);
}

const providerForm = (html: string) => /<form[^>]*action="([^"]+)"/.exec(html)![1]!;

describe('federation: sign-in through an external OpenID provider', () => {
  let s: TestServer;
  let idp: Server;
  let idpUrl: string;

  before(async () => {
    const port = await freePort();
    idpUrl = `http://127.0.0.1:${port}`;
    s = await startTestServer({
      HAVEN_OIDC_ISSUER: idpUrl,
      HAVEN_OIDC_CLIENT_ID: 'haven',
      HAVEN_OIDC_CLIENT_SECRET: 'haven-secret-at-idp',
      HAVEN_OIDC_ROLE_MAP: 'clinicians=clinician,haven-admins=admin',
      HAVEN_OIDC_NAME: 'Test IdP',
    });
    idp = await startProvider(port, `${s.baseUrl}/auth/federated/callback`);
    await admin(s, '/auth/admin/clients', { clientId: 'fed-app', name: 'Fed app', scopes: 'openid user/*.rs', redirectUris: [REDIRECT] });
  });
  after(async () => {
    idp.close();
    await s.close();
  });

  /** Haven login page → "Sign in with Test IdP" → provider login and consent → back at Haven. */
  async function federatedSignIn(login: string, challenge = pkce().challenge) {
    const haven = new Browser(s.baseUrl);
    const page = await haven.go(authorizeUrl(s, { client_id: 'fed-app', scope: 'openid user/Patient.rs', code_challenge: challenge }));
    assert.match(page.html, /Sign in with Test IdP/);
    const forms = [...page.html.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))));
    const toIdp = await haven.request(forms.find((f) => f.includes('federated'))!, { csrf: csrf(page.html) });
    assert.equal(toIdp.status, 303);
    assert.ok(toIdp.location!.startsWith(idpUrl));
    // Authorization code + PKCE (S256), with state and nonce, as the issue asks of the relying party.
    const asked = new URL(toIdp.location!).searchParams;
    assert.equal(asked.get('response_type'), 'code');
    assert.equal(asked.get('code_challenge_method'), 'S256');
    assert.match(asked.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.ok(asked.get('state') && asked.get('nonce'), 'state and nonce are sent');
    const atIdp = new Browser(idpUrl);
    const loginPage = await atIdp.go(toIdp.location!);
    const consentPage = await atIdp.go(providerForm(loginPage.html), { prompt: 'login', login, password: 'anything' });
    const back = consentPage.location ? consentPage : await atIdp.go(providerForm(consentPage.html), { prompt: 'consent' });
    assert.ok(back.location?.startsWith(`${s.baseUrl}/auth/federated/callback`), `back at Haven: ${back.location} ${back.html.slice(0, 300)}`);
    return { haven, result: await haven.go(back.location!) };
  }

  it('provisions a workforce user just in time, maps groups to roles, and completes the launch', async () => {
    const { verifier, challenge } = pkce();
    const { haven, result } = await federatedSignIn('nurse', challenge);
    assert.equal(result.status, 200, result.html.slice(0, 500));
    assert.match(result.html, /Allow/);
    const user = await s.testDb.db.query<{ username: string; roles: string[]; plane: string; external_subject: string }>(
      "SELECT username, roles, plane, external_subject FROM app_user WHERE external_issuer IS NOT NULL",
    );
    assert.deepEqual(user.rows, [{ username: 'nurse', roles: ['clinician'], plane: 'workforce', external_subject: 'nurse' }]);
    const back = await haven.go(formAction(result.html), { csrf: csrf(result.html), decision: 'approve', scope: 'user/Patient.rs' });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'fed-app', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    const id = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Eve' }] } })).body.id;
    assert.equal((await s.fhir(`/Patient/${id}`, { token: t.body.access_token })).status, 200);
    assert.equal((await s.fhir(`/Observation?subject=Patient/${id}`, { token: t.body.access_token })).status, 403, 'only the granted user/Patient.rs');
  });

  it('refuses users with no mapped role, and admins whose provider asserted no MFA', async () => {
    const stranger = await federatedSignIn('stranger');
    assert.equal(stranger.result.status, 403);
    assert.match(stranger.result.html, /grants no role/);
    const boss = await federatedSignIn('boss');
    assert.equal(boss.result.status, 403);
    assert.match(boss.result.html, /multi-factor/);
    const audit = await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE '%federated-no-mfa%'");
    assert.equal(audit.rowCount, 1);
  });

  it('refuses any user whose provider asserted no MFA where the tenant requires MFA of everyone', async () => {
    const patch = async (mfaRequired: boolean | null) => {
      const res = await fetch(`${s.baseUrl}/auth/admin/settings`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${await s.token()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ mfaRequired }),
      });
      assert.equal(res.status, 200);
    };
    await patch(true);
    const nurse = await federatedSignIn('nurse');
    assert.equal(nurse.result.status, 403);
    assert.match(nurse.result.html, /multi-factor authentication, which your organisation requires/);
    await patch(null);
    assert.match((await federatedSignIn('nurse')).result.html, /Allow/);
  });
});

/**
 * HAVEN_BASE_URL with a path (`…/haven`), end to end against the same real
 * provider: the redirect_uri Haven sends carries the prefix, the provider
 * redirects back to it, and the sign-in completes — with a proxy that keeps
 * the prefix (the server answers /haven/… itself) and with one that strips it
 * (HAVEN_BASE_URL is the proxy's URL; Haven sees /auth/federated/callback).
 */
for (const mode of ['keeps', 'strips'] as const) {
  describe(`federation behind a proxy that ${mode} the /haven prefix`, () => {
    let s: TestServer;
    let idp: Server;
    let idpUrl: string;
    let proxy: { server: Server; origin: string } | undefined;

    before(async () => {
      const port = await freePort();
      idpUrl = `http://127.0.0.1:${port}`;
      let upstream = '';
      if (mode === 'strips') proxy = await strippingProxy(() => upstream);
      s = await startTestServer(
        { HAVEN_OIDC_ISSUER: idpUrl, HAVEN_OIDC_CLIENT_ID: 'haven', HAVEN_OIDC_CLIENT_SECRET: 'haven-secret-at-idp', HAVEN_OIDC_ROLE_MAP: 'clinicians=clinician', HAVEN_OIDC_NAME: 'Test IdP' },
        { basePath: '/haven', ...(proxy ? { publicOrigin: proxy.origin } : {}) },
      );
      upstream = s.listenOrigin;
      // The provider knows only the public callback URL, prefix included.
      idp = await startProvider(port, `${s.baseUrl}/auth/federated/callback`);
      await admin(s, '/auth/admin/clients', { clientId: 'fed-app', name: 'Fed app', scopes: 'openid user/*.rs', redirectUris: [REDIRECT] });
    });
    after(async () => {
      idp.close();
      await s.close();
      if (proxy) await new Promise((resolve) => proxy!.server.close(resolve));
    });

    it('signs in through the provider, provisions the user and completes the launch under the prefix', async () => {
      const origin = new URL(s.baseUrl).origin;
      const { verifier, challenge } = pkce();
      const haven = new Browser(origin);
      const page = await haven.go(`/haven${authorizeUrl(s, { client_id: 'fed-app', scope: 'openid user/Patient.rs', code_challenge: challenge })}`);
      assert.equal(page.status, 200, page.html.slice(0, 300));
      assert.match(page.html, /Sign in with Test IdP/);
      const forms = [...page.html.matchAll(/<form method="post" action="([^"]+)"/g)].map((m) => m[1]!.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c))));
      const federated = forms.find((f) => f.includes('federated'))!;
      assert.match(federated, /^\/haven\/auth\/flow\/federated\?/, 'the button posts under the prefix');
      const toIdp = await haven.request(federated, { csrf: csrf(page.html) });
      assert.equal(toIdp.status, 303);
      const sent = new URL(toIdp.location!);
      assert.equal(sent.origin, idpUrl);
      assert.equal(sent.searchParams.get('redirect_uri'), `${s.baseUrl}/auth/federated/callback`, 'the redirect_uri is the public one, prefix included');
      assert.equal(sent.searchParams.get('code_challenge_method'), 'S256');

      const atIdp = new Browser(idpUrl);
      const loginPage = await atIdp.go(toIdp.location!);
      const consentPage = await atIdp.go(providerForm(loginPage.html), { prompt: 'login', login: 'nurse', password: 'anything' });
      const back = consentPage.location ? consentPage : await atIdp.go(providerForm(consentPage.html), { prompt: 'consent' });
      assert.ok(back.location?.startsWith(`${s.baseUrl}/auth/federated/callback?`), `back at Haven under the prefix: ${back.location}`);
      const result = await haven.go(back.location!);
      assert.equal(result.status, 200, result.html.slice(0, 500));
      assert.match(result.html, /Allow/);
      assert.match(formAction(result.html), /^\/haven\/auth\/flow\/consent/);
      const user = await s.testDb.db.query<{ username: string; roles: string[] }>('SELECT username, roles FROM app_user WHERE external_issuer IS NOT NULL');
      assert.deepEqual(user.rows, [{ username: 'nurse', roles: ['clinician'] }]);

      const approved = await haven.go(formAction(result.html), { csrf: csrf(result.html), decision: 'approve', scope: 'user/Patient.rs' });
      const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(approved.location).code!, redirect_uri: REDIRECT, client_id: 'fed-app', code_verifier: verifier });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      const id = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Prefixed' }] } })).body.id;
      assert.equal((await s.fhir(`/Patient/${id}`, { token: t.body.access_token })).status, 200);
    });
  });
}
