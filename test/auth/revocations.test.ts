import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClientAssertion, createTokenVerifier } from '../../src/auth/index.js';
import { createRevocations } from '../../src/auth/revocations.js';
import { clientKeys, createHarness, FHIR_BASE, ISSUER, TENANT, TOKEN_URL, tokenForm, type AuthHarness } from './harness.js';

describe('revocations (grants and jtis)', () => {
  let h: AuthHarness;
  let token: string;
  let jti: string;

  before(async () => {
    h = await createHarness();
    const keys = await clientKeys('ES384');
    await h.clients.register(TENANT, { clientId: 'svc', name: 'svc', jwks: { keys: [keys.publicJwk] }, scopes: 'system/*.rs' });
    const assertion = await createClientAssertion({ clientId: 'svc', privateJwk: keys.privateJwk, tokenUrl: TOKEN_URL, now: h.clock.now() });
    token = (await h.endpoint.issueToken(tokenForm(assertion, 'system/*.rs'), { tokenUrl: TOKEN_URL, tenant: TENANT })).access_token;
    jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).jti;
    await h.testDb.db.query(
      `INSERT INTO oauth_grant (tenant_id, grant_id, client_id, user_id, scopes, context, created_at, expires_at)
       VALUES ($1, 'g1', 'app', 'u1', 'patient/*.rs', '{}', now(), now() + interval '1 day')`,
      [TENANT],
    );
  });
  after(() => h.testDb.drop());

  it('applies at once on this node and within the poll interval on another', async () => {
    const here = createRevocations({ db: h.testDb.db, clock: h.clock, pollMs: 2000 });
    const there = createRevocations({ db: h.testDb.db, clock: h.clock, pollMs: 2000 });
    assert.equal(await there.isRevoked(TENANT, 'g1', 'x'), false); // loads its (empty) set now
    await here.revokeGrant(h.testDb.db, TENANT, 'g1', 'test', h.clock.now());
    assert.equal(await here.isRevoked(TENANT, 'g1', 'x'), true);
    assert.equal(await there.isRevoked(TENANT, 'g1', 'x'), false, 'not yet polled');
    h.clock.advance(2);
    assert.equal(await there.isRevoked(TENANT, 'g1', 'x'), true);
    assert.equal(await there.isRevoked(TENANT, 'g2', 'x'), false);
  });

  // The cost of the cached path with the revocation check is measured by bench/access-policy.ts, not here (no timed unit tests).
  it('refuses a revoked access token, cached or not', async () => {
    const revocations = createRevocations({ db: h.testDb.db, clock: h.clock });
    const verifier = createTokenVerifier({ issuer: ISSUER, audience: FHIR_BASE, keys: h.keys, clock: h.clock, revocations });
    const header = `Bearer ${token}`;
    await verifier.verify(header);
    await verifier.verify(header); // now served from the verified-token cache
    await revocations.revokeJti(h.testDb.db, TENANT, jti, new Date(Date.now() + 600_000), h.clock.now());
    await assert.rejects(verifier.verify(header), { code: 'AUTH_TOKEN_INVALID' });
  });
});
