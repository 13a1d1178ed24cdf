import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT, base64url, exportJWK, generateKeyPair } from 'jose';
import { HavenError, asTenantId } from '../../src/kernel/index.js';
import { createClientAssertion, createTokenVerifier } from '../../src/auth/index.js';
import { FHIR_BASE, ISSUER, TENANT, TOKEN_URL, clientKeys, createHarness, tokenForm } from './harness.js';
import type { AuthHarness } from './harness.js';

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HavenError);
    assert.equal(err.category, 'unauthenticated');
    assert.equal(err.code, code);
    assert.match(err.headers['WWW-Authenticate'] ?? '', /^Bearer realm="haven"/);
    if (code !== 'AUTH_TOKEN_MISSING') assert.match(err.headers['WWW-Authenticate'] ?? '', /error="invalid_token"/);
    return true;
  });
}

describe('access-token verifier', () => {
  let h: AuthHarness;
  let token: string;

  before(async () => {
    h = await createHarness();
    const keys = await clientKeys('ES384');
    await h.clients.register(TENANT, { clientId: 'app', name: 'App', jwks: { keys: [keys.publicJwk] }, scopes: 'system/*.rs', isAdmin: true });
    const assertion = await createClientAssertion({ clientId: 'app', privateJwk: keys.privateJwk, tokenUrl: TOKEN_URL, now: h.clock.now() });
    token = (await h.endpoint.issueToken(tokenForm(assertion, 'system/*.rs'), { tokenUrl: TOKEN_URL, tenant: TENANT })).access_token;
  });
  after(async () => h.testDb.drop());

  it('accepts a good token, also from a fresh verifier (keys from the database)', async () => {
    const p = await h.verifier.verify(`Bearer ${token}`);
    assert.equal(p.clientId, 'app');
    assert.equal(p.isAdmin, true);
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.scopes));
    const fresh = createTokenVerifier({ issuer: ISSUER, audience: FHIR_BASE, keys: h.keys, clock: h.clock });
    assert.equal((await fresh.verify(`bearer  ${token}`, TENANT)).subject, 'app');
  });

  it('rejects missing and malformed headers', async () => {
    await rejectsWith(h.verifier.verify(undefined), 'AUTH_TOKEN_MISSING');
    await rejectsWith(h.verifier.verify(''), 'AUTH_TOKEN_MISSING');
    await rejectsWith(h.verifier.verify(`Basic ${token}`), 'AUTH_TOKEN_INVALID');
    await rejectsWith(h.verifier.verify('Bearer not.a.jwt'), 'AUTH_TOKEN_INVALID');
  });

  it('rejects a tampered token', async () => {
    const [header, payload, sig] = token.split('.') as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(payload))) as Record<string, unknown>;
    const widened = base64url.encode(JSON.stringify({ ...claims, scope: 'system/*.cruds' }));
    await rejectsWith(h.verifier.verify(`Bearer ${header}.${widened}.${sig}`), 'AUTH_TOKEN_INVALID');
    const flipped = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
    await rejectsWith(h.verifier.verify(`Bearer ${header}.${payload}.${flipped}`), 'AUTH_TOKEN_INVALID');
  });

  it('rejects a token signed by a foreign key that claims a Haven kid', async () => {
    const { kid } = await h.keys.activeKey(TENANT);
    const { privateKey } = await generateKeyPair('ES256');
    const forged = await new SignJWT({ client_id: 'app', scope: 'system/*.cruds', tenant: TENANT })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(ISSUER).setAudience(FHIR_BASE).setSubject('app').setExpirationTime('5m')
      .sign(privateKey);
    await rejectsWith(h.verifier.verify(`Bearer ${forged}`), 'AUTH_TOKEN_INVALID');
  });

  it('rejects alg none, HS256 keyed with the public key, a not-yet-valid token and an id_token', async () => {
    const { kid, privateKey } = await h.keys.activeKey(TENANT);
    const [, payload] = token.split('.') as [string, string, string];
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', kid, typ: 'at+jwt' }))}.${payload}.`;
    await rejectsWith(h.verifier.verify(`Bearer ${none}`), 'AUTH_TOKEN_INVALID');
    const pub = (await h.keys.jwks(TENANT)).keys.find((k) => k.kid === kid)!;
    const claims = { client_id: 'app', scope: 'system/*.cruds', tenant: TENANT };
    const hs = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid, typ: 'at+jwt' })
      .setIssuer(ISSUER).setAudience(FHIR_BASE).setSubject('app').setExpirationTime('5m')
      .sign(new TextEncoder().encode(JSON.stringify(pub)));
    await rejectsWith(h.verifier.verify(`Bearer ${hs}`), 'AUTH_TOKEN_INVALID');
    const early = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(ISSUER).setAudience(FHIR_BASE).setSubject('app').setNotBefore('1h').setExpirationTime('2h')
      .sign(privateKey);
    await rejectsWith(h.verifier.verify(`Bearer ${early}`), 'AUTH_TOKEN_INVALID');
    const untyped = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
      .setIssuer(ISSUER).setAudience(FHIR_BASE).setSubject('app').setExpirationTime('5m')
      .sign(privateKey);
    await rejectsWith(h.verifier.verify(`Bearer ${untyped}`), 'AUTH_TOKEN_INVALID');
  });

  it('rejects wrong audience, wrong issuer and another tenant', async () => {
    const wrongAud = createTokenVerifier({ issuer: ISSUER, audience: 'https://other.test/fhir', keys: h.keys, clock: h.clock });
    await rejectsWith(wrongAud.verify(`Bearer ${token}`), 'AUTH_TOKEN_INVALID');
    const wrongIss = createTokenVerifier({ issuer: 'https://other.test', audience: FHIR_BASE, keys: h.keys, clock: h.clock });
    await rejectsWith(wrongIss.verify(`Bearer ${token}`), 'AUTH_TOKEN_INVALID');
    await rejectsWith(h.verifier.verify(`Bearer ${token}`, asTenantId('other')), 'AUTH_TOKEN_INVALID');
  });

  it('rejects a token whose tenant has no such key, without creating keys', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const kid = (await exportJWK(publicKey)).x ?? 'k';
    const forged = await new SignJWT({ client_id: 'app', scope: 's', tenant: 'ghost' })
      .setProtectedHeader({ alg: 'ES256', kid, typ: 'at+jwt' })
      .setIssuer(ISSUER).setAudience(FHIR_BASE).setSubject('app').setExpirationTime('5m')
      .sign(privateKey);
    await rejectsWith(h.verifier.verify(`Bearer ${forged}`), 'AUTH_TOKEN_INVALID');
    const rows = await h.testDb.db.query("SELECT 1 FROM signing_key WHERE tenant_id = 'ghost'");
    assert.equal(rows.rowCount, 0);
  });

  it('rejects an expired token, also when it was cached', async () => {
    await h.verifier.verify(`Bearer ${token}`);
    const fresh = createTokenVerifier({ issuer: ISSUER, audience: FHIR_BASE, keys: h.keys, clock: h.clock });
    h.clock.advance(301 + 30);
    try {
      await rejectsWith(h.verifier.verify(`Bearer ${token}`), 'AUTH_TOKEN_EXPIRED');
      await rejectsWith(fresh.verify(`Bearer ${token}`), 'AUTH_TOKEN_EXPIRED');
    } finally {
      h.clock.advance(-(301 + 30));
    }
  });
});
