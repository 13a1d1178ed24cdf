import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import Provider from 'oidc-provider';
import { freePort, startTestServer, type TestServer } from '../support/server.js';
import { admin, authorizeUrl, Browser, codeFrom, csrf, formAction, pkce, REDIRECT, tokenRequest } from './smart-support.js';

/**
 * Several external OpenID providers (HAVEN_OIDC_PROVIDERS), end to end against
 * two real oidc-provider instances on loopback: one button each, users keyed
 * by (issuer, sub), a provider's response refused at another's callback, and
 * an id_token from another issuer than the configured one refused.
 */
async function startProvider(port: number, clients: Array<{ id: string; callback: string }>, groups: Record<string, string[]>): Promise<Server> {
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: clients.map((c) => ({ client_id: c.id, client_secret: `${c.id}-secret`, redirect_uris: [c.callback], grant_types: ['authorization_code'], response_types: ['code'] })),
    findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id, preferred_username: id, groups: groups[id] ?? [] }) }),
    claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    cookies: { keys: [`cookie-key-${port}`] },
  });
  return provider.listen(port);
}

/**
 * A provider that is not what it says: its discovery document claims its own
 * issuer, but authorization, token endpoint and keys are those of `real`. So
 * the id_token it hands over is validly signed, for the right client and
 * nonce, and issued by `real` — only `iss` is wrong. Counts token requests.
 */
function startImpostor(port: number, real: string): { server: Server; tokenRequests: () => number } {
  let tokens = 0;
  const self = `http://127.0.0.1:${port}`;
  const server = createServer((req, res) => {
    void (async () => {
      if (req.url === '/.well-known/openid-configuration') {
        const doc = (await (await fetch(`${real}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ ...doc, issuer: self, token_endpoint: `${self}/token`, authorization_response_iss_parameter_supported: false }));
        return;
      }
      if (req.url === '/token' && req.method === 'POST') {
        tokens++;
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const upstream = await fetch(`${real}/token`, {
          method: 'POST',
          headers: { 'content-type': String(req.headers['content-type']), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) },
          body: Buffer.concat(chunks),
        });
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
        res.end(await upstream.text());
        return;
      }
      res.writeHead(404).end();
    })();
  });
  server.listen(port, '127.0.0.1');
  return { server, tokenRequests: () => tokens };
}

const providerForm = (html: string) => /<form[^>]*action="([^"]+)"/.exec(html)![1]!;
const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
const jwtPayload = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

describe('federation with several OpenID providers', () => {
  let s: TestServer;
  const servers: Server[] = [];
  let entraUrl: string;
  let oktaUrl: string;
  let impostor: ReturnType<typeof startImpostor>;
  let impostorUrl: string;

  before(async () => {
    const [entraPort, oktaPort, impostorPort] = [await freePort(), await freePort(), await freePort()];
    entraUrl = `http://127.0.0.1:${entraPort}`;
    oktaUrl = `http://127.0.0.1:${oktaPort}`;
    impostorUrl = `http://127.0.0.1:${impostorPort}`;
    s = await startTestServer({
      HAVEN_OIDC_PROVIDERS: JSON.stringify([
        { id: 'entra', name: 'Staff (Entra ID)', issuer: entraUrl, clientId: 'haven', clientSecret: 'haven-secret', roleMap: { clinicians: 'clinician' } },
        { id: 'okta', name: 'Affiliate (Okta)', issuer: oktaUrl, clientId: 'haven', clientSecret: 'haven-secret', rolesClaim: 'groups', roleMap: 'partners=affiliate' },
        { id: 'impostor', name: 'Impostor', issuer: impostorUrl, clientId: 'haven-impostor', clientSecret: 'haven-impostor-secret', roleMap: { clinicians: 'clinician' } },
      ]),
    });
    servers.push(
      await startProvider(entraPort, [{ id: 'haven', callback: `${s.baseUrl}/auth/federated/entra/callback` }, { id: 'haven-impostor', callback: `${s.baseUrl}/auth/federated/impostor/callback` }], { nurse: ['clinicians'] }),
      await startProvider(oktaPort, [{ id: 'haven', callback: `${s.baseUrl}/auth/federated/okta/callback` }], { nurse: ['partners'] }),
    );
    impostor = startImpostor(impostorPort, entraUrl);
    servers.push(impostor.server);
    await admin(s, '/auth/admin/clients', { clientId: 'fed-app', name: 'Fed app', scopes: 'openid user/*.rs', redirectUris: [REDIRECT] });
  });
  after(async () => {
    for (const server of servers) server.close();
    await s.close();
  });

  /** Haven's sign-in page → the button of `provider` → login at the provider → its redirect back to Haven (not followed). */
  async function toProviderAndBack(provider: string, idp: string, login: string, challenge = pkce().challenge) {
    const haven = new Browser(s.baseUrl);
    const page = await haven.go(authorizeUrl(s, { client_id: 'fed-app', scope: 'openid user/Patient.rs', code_challenge: challenge }));
    const forms = [...page.html.matchAll(/<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="csrf" value="[^"]+">\s*(?:<input type="hidden" name="provider" value="([^"]+)">)?/g)];
    const button = forms.find((m) => m[2] && unescape(m[2]) === provider);
    assert.ok(button, `a button for ${provider}`);
    const toIdp = await haven.request(unescape(button[1]!), { csrf: csrf(page.html), provider });
    assert.equal(toIdp.status, 303);
    assert.ok(toIdp.location!.startsWith(idp), `sent to ${idp}: ${toIdp.location}`);
    const atIdp = new Browser(idp);
    const loginPage = await atIdp.go(toIdp.location!);
    const consentPage = await atIdp.go(providerForm(loginPage.html), { prompt: 'login', login, password: 'anything' });
    const back = consentPage.location ? consentPage : await atIdp.go(providerForm(consentPage.html), { prompt: 'consent' });
    assert.ok(back.location?.startsWith(`${s.baseUrl}/auth/federated/`), `back at Haven: ${back.location} ${back.html.slice(0, 300)}`);
    return { haven, callback: new URL(back.location!) };
  }

  async function completeLaunch(haven: Browser, consentHtml: string, verifier: string) {
    assert.match(consentHtml, /Allow/);
    const back = await haven.go(formAction(consentHtml), { csrf: csrf(consentHtml), decision: 'approve', scope: 'user/Patient.rs' });
    const t = await tokenRequest(s, { grant_type: 'authorization_code', code: codeFrom(back.location).code!, redirect_uri: REDIRECT, client_id: 'fed-app', code_verifier: verifier });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    return t.body as { access_token: string };
  }

  it('the sign-in page offers one button per provider, and its CSP lets each form reach its provider', async () => {
    const b = new Browser(s.baseUrl);
    const res = await b.go(authorizeUrl(s, { client_id: 'fed-app', scope: 'openid user/Patient.rs', code_challenge: pkce().challenge }));
    assert.match(res.html, /Sign in with Staff \(Entra ID\)/);
    assert.match(res.html, /Sign in with Affiliate \(Okta\)/);
    const csp = res.headers.get('content-security-policy')!;
    assert.ok(csp.includes(entraUrl) && csp.includes(oktaUrl), csp);
  });

  it('each provider signs in its own user: the same sub at two providers is two users, with each provider’s role map', async () => {
    const a = pkce();
    const viaEntra = await toProviderAndBack('entra', entraUrl, 'nurse', a.challenge);
    assert.equal(viaEntra.callback.pathname, '/auth/federated/entra/callback');
    const entraToken = await completeLaunch(viaEntra.haven, (await viaEntra.haven.go(viaEntra.callback.href)).html, a.verifier);

    const b = pkce();
    const viaOkta = await toProviderAndBack('okta', oktaUrl, 'nurse', b.challenge);
    assert.equal(viaOkta.callback.pathname, '/auth/federated/okta/callback');
    const oktaToken = await completeLaunch(viaOkta.haven, (await viaOkta.haven.go(viaOkta.callback.href)).html, b.verifier);

    const users = await s.testDb.db.query<{ user_id: string; username: string; roles: string[]; external_issuer: string; external_subject: string }>(
      'SELECT user_id, username, roles, external_issuer, external_subject FROM app_user WHERE external_issuer IS NOT NULL ORDER BY created_at',
    );
    assert.deepEqual(
      users.rows.map(({ user_id: _id, ...rest }) => rest),
      [
        { username: 'nurse', roles: ['clinician'], external_issuer: entraUrl, external_subject: 'nurse' },
        { username: 'nurse@okta', roles: ['affiliate'], external_issuer: oktaUrl, external_subject: 'nurse' },
      ],
    );
    assert.equal(jwtPayload(entraToken.access_token)['sub'], users.rows[0]!.user_id);
    assert.equal(jwtPayload(oktaToken.access_token)['sub'], users.rows[1]!.user_id);

    // Signing in again at Entra finds the same user, not a third one.
    const c = pkce();
    const again = await toProviderAndBack('entra', entraUrl, 'nurse', c.challenge);
    const token = await completeLaunch(again.haven, (await again.haven.go(again.callback.href)).html, c.verifier);
    assert.equal(jwtPayload(token.access_token)['sub'], users.rows[0]!.user_id);
    assert.equal((await s.testDb.db.query('SELECT 1 FROM app_user WHERE external_issuer IS NOT NULL')).rowCount, 2);
  });

  it('a response (state and code) from provider A presented at B’s callback is refused; at A’s own it still completes', async () => {
    const { verifier, challenge } = pkce();
    const { haven, callback } = await toProviderAndBack('entra', entraUrl, 'nurse', challenge);
    const replayed = await haven.go(`/auth/federated/okta/callback${callback.search}`);
    assert.equal(replayed.status, 400);
    assert.match(replayed.html, /does not belong to a sign-in started in this browser/);
    assert.doesNotMatch(replayed.html, /Allow/);
    const legacyPath = await haven.go(`/auth/federated/callback${callback.search}`);
    assert.equal(legacyPath.status, 400, 'nor at the single-provider path, which no provider uses here');
    const audit = await s.testDb.db.query("SELECT 1 FROM audit_entry WHERE convert_from(canonical, 'UTF8') LIKE '%federated-foreign-response%'");
    assert.ok((audit.rowCount ?? 0) >= 1, 'the refusal is audited');
    await completeLaunch(haven, (await haven.go(callback.href)).html, verifier);
  });

  it('an id_token issued by another issuer than the provider’s is refused', async () => {
    const { haven, callback } = await toProviderAndBack('impostor', entraUrl, 'nurse');
    assert.equal(callback.pathname, '/auth/federated/impostor/callback');
    // The real provider names itself in `iss` (RFC 9207), which alone would stop the exchange; drop it so the
    // id_token's own `iss` is what is checked.
    assert.equal(callback.searchParams.get('iss'), entraUrl);
    callback.searchParams.delete('iss');
    const before = impostor.tokenRequests();
    const result = await haven.go(callback.href);
    assert.equal(impostor.tokenRequests(), before + 1, 'the code was exchanged: the refusal comes from the id_token');
    assert.equal(result.status, 401);
    assert.match(result.html, /could not be verified/);
    assert.doesNotMatch(result.html, /Allow/);
    const users = await s.testDb.db.query('SELECT 1 FROM app_user WHERE external_issuer = $1', [impostorUrl]);
    assert.equal(users.rowCount, 0, 'nobody provisioned');
  });
});
