import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, base64url, importJWK } from 'jose';
import { HavenError } from '../../src/kernel/index.js';
import { createClientAssertion, oauthErrorBody, oauthErrorStatus } from '../../src/auth/index.js';
import { TENANT, TOKEN_URL, clientKeys, createHarness, tokenForm } from './harness.js';
import type { AuthHarness, ClientKeys } from './harness.js';

async function rejects(promise: Promise<unknown>, error: string, code: string, description?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HavenError, `expected HavenError, got ${String(err)}`);
    assert.equal(err.code, code);
    const body = oauthErrorBody(err);
    assert.equal(body.error, error);
    if (description) assert.match(body.error_description, description);
    assert.equal(oauthErrorStatus(err), error === 'invalid_client' ? 401 : 400);
    return true;
  });
}

describe('token endpoint (SMART Backend Services)', () => {
  let h: AuthHarness;
  let rsa: ClientKeys;
  let ec: ClientKeys;

  before(async () => {
    h = await createHarness();
    [rsa, ec] = await Promise.all([clientKeys('RS384'), clientKeys('ES384')]);
    await h.clients.register(TENANT, { clientId: 'rsa-client', name: 'RSA', jwks: { keys: [rsa.publicJwk] }, scopes: 'system/Patient.read system/Observation.rs' });
    await h.clients.register(TENANT, { clientId: 'ec-client', name: 'EC', jwks: { keys: [ec.publicJwk] }, scopes: 'system/*.cruds' });
  });
  after(async () => h.testDb.drop());

  const issue = (assertion: string, scope: string) =>
    h.endpoint.issueToken(tokenForm(assertion, scope), { tokenUrl: TOKEN_URL, tenant: TENANT });
  const assertionFor = (clientId: string, keys: ClientKeys, extra: Partial<Parameters<typeof createClientAssertion>[0]> = {}) =>
    createClientAssertion({ clientId, privateJwk: keys.privateJwk, tokenUrl: TOKEN_URL, now: h.clock.now(), ...extra });

  for (const [alg, clientId] of [['RS384', 'rsa-client'], ['ES384', 'ec-client']] as const) {
    it(`issues a verifiable token to an ${alg} client`, async () => {
      const keys = alg === 'RS384' ? rsa : ec;
      const res = await issue(await assertionFor(clientId, keys), 'system/Patient.read');
      assert.equal(res.token_type, 'bearer');
      assert.equal(res.expires_in, 300);
      assert.equal(res.scope, 'system/Patient.read');
      const principal = await h.verifier.verify(`Bearer ${res.access_token}`, TENANT);
      assert.equal(principal.clientId, clientId);
      assert.equal(principal.subject, clientId);
      assert.equal(principal.kind, 'client');
      assert.deepEqual(principal.scopes, ['system/Patient.read']);
      assert.equal(principal.tenant, TENANT);
      assert.ok(principal.expiresAt <= h.clock.now().getTime() + 300_000);
    });
  }

  it('grants the intersection of requested and allowed scopes', async () => {
    const res = await issue(await assertionFor('rsa-client', rsa), 'system/Patient.read system/Observation.s system/Encounter.read launch');
    assert.equal(res.scope, 'system/Patient.read system/Observation.s');
    const wide = await issue(await assertionFor('ec-client', ec), 'system/Condition.rs system/*.read user/*.rs');
    assert.equal(wide.scope, 'system/Condition.rs system/*.read');
  });

  it('rejects a scope the client may not have', async () => {
    await rejects(issue(await assertionFor('rsa-client', rsa), 'system/Patient.write'), 'invalid_scope', 'OAUTH_INVALID_SCOPE');
    await rejects(issue(await assertionFor('rsa-client', rsa), 'system/*.*'), 'invalid_scope', 'OAUTH_INVALID_SCOPE');
  });

  it('rejects a replayed jti', async () => {
    const assertion = await assertionFor('ec-client', ec, { jti: 'once-only' });
    await issue(assertion, 'system/Patient.rs');
    await rejects(issue(assertion, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /jti/);
    const again = await assertionFor('ec-client', ec, { jti: 'once-only' });
    await rejects(issue(again, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /jti/);
  });

  it('accepts a jti again once its first assertion has expired', async () => {
    await issue(await assertionFor('ec-client', ec, { jti: 'reusable', expiresInSeconds: 60 }), 'system/Patient.rs');
    h.clock.advance(120);
    await issue(await assertionFor('ec-client', ec, { jti: 'reusable' }), 'system/Patient.rs');
  });

  it('rejects an assertion addressed to another audience', async () => {
    const assertion = await assertionFor('ec-client', ec, { tokenUrl: 'https://elsewhere.test/token' });
    await rejects(issue(assertion, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /aud/);
  });

  it('rejects an expired assertion and one that lives too long', async () => {
    const expired = await assertionFor('ec-client', ec, { now: new Date(h.clock.now().getTime() - 600_000) });
    await rejects(issue(expired, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /expired/);
    const tooLong = await assertionFor('ec-client', ec, { expiresInSeconds: 3600 });
    await rejects(issue(tooLong, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /exp/);
  });

  it('rejects alg none and HS256 assertions', async () => {
    const claims = { iss: 'ec-client', sub: 'ec-client', aud: TOKEN_URL, jti: 'x1', exp: Math.floor(h.clock.now().getTime() / 1000) + 60 };
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const none = `${header}.${base64url.encode(JSON.stringify(claims))}.`;
    await rejects(issue(none, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /alg/);
    // HMAC keyed with the public key: the classic algorithm-confusion attack.
    const secret = new TextEncoder().encode(JSON.stringify(ec.publicJwk));
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(secret);
    await rejects(issue(hs, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /alg/);
  });

  it('rejects an assertion signed by an unregistered key', async () => {
    const stranger = await clientKeys('ES384');
    const forged = await createClientAssertion({ clientId: 'ec-client', privateJwk: { ...stranger.privateJwk, kid: ec.privateJwk.kid }, tokenUrl: TOKEN_URL, now: h.clock.now() });
    await rejects(issue(forged, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /signature/);
  });

  it('rejects unknown and disabled clients, and iss/sub mismatch', async () => {
    await rejects(issue(await assertionFor('nobody', ec), 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT');
    const mixed = await new SignJWT({ jti: 'm1' })
      .setProtectedHeader({ alg: 'ES384', kid: ec.privateJwk.kid! })
      .setIssuer('ec-client').setSubject('rsa-client').setAudience(TOKEN_URL)
      .setExpirationTime(Math.floor(h.clock.now().getTime() / 1000) + 60)
      .sign(await importJWK(ec.privateJwk, 'ES384'));
    await rejects(issue(mixed, 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT', /sub/);
    await h.clients.setDisabled(TENANT, 'ec-client', true);
    try {
      await rejects(issue(await assertionFor('ec-client', ec), 'system/Patient.rs'), 'invalid_client', 'OAUTH_INVALID_CLIENT');
    } finally {
      await h.clients.setDisabled(TENANT, 'ec-client', false);
    }
  });

  it('rejects malformed requests', async () => {
    const good = tokenForm(await assertionFor('ec-client', ec), 'system/Patient.rs');
    const opts = { tokenUrl: TOKEN_URL, tenant: TENANT };
    await rejects(h.endpoint.issueToken({ ...good, grant_type: 'authorization_code' }, opts), 'unsupported_grant_type', 'OAUTH_UNSUPPORTED_GRANT_TYPE');
    await rejects(h.endpoint.issueToken({ ...good, grant_type: '' }, opts), 'invalid_request', 'OAUTH_INVALID_REQUEST');
    await rejects(h.endpoint.issueToken({ ...good, client_assertion: '' }, opts), 'invalid_request', 'OAUTH_INVALID_REQUEST');
    await rejects(h.endpoint.issueToken({ ...good, scope: ' ' }, opts), 'invalid_request', 'OAUTH_INVALID_REQUEST');
    await rejects(h.endpoint.issueToken({ ...good, client_assertion_type: 'urn:x' }, opts), 'invalid_client', 'OAUTH_INVALID_CLIENT');
    await rejects(h.endpoint.issueToken({ ...good, client_assertion: 'not-a-jwt' }, opts), 'invalid_client', 'OAUTH_INVALID_CLIENT');
    await rejects(h.endpoint.issueToken({ ...good, client_id: 'rsa-client' }, opts), 'invalid_client', 'OAUTH_INVALID_CLIENT');
  });

  it('does not echo unknown errors', () => {
    assert.deepEqual(oauthErrorBody(new Error('secret detail')).error, 'server_error');
    assert.equal(oauthErrorStatus(new Error('x')), 500);
  });

  it('does not honour a client of another tenant', async () => {
    await h.testDb.db.query("INSERT INTO tenant (tenant_id, name) VALUES ('other', 'Other')");
    const res = h.endpoint.issueToken(tokenForm(await assertionFor('ec-client', ec), 'system/Patient.rs'), { tokenUrl: TOKEN_URL, tenant: 'other' as typeof TENANT });
    await rejects(res, 'invalid_client', 'OAUTH_INVALID_CLIENT');
  });
});
