import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startTestServer, type TestServer } from '../support/server.js';
import { admin } from './smart-support.js';

/**
 * A SMART Backend Services client written from the specification
 * (hl7.org/fhir/smart-app-launch/backend-services.html), sharing no code with
 * Haven: it registers its public key through the admin API, discovers the
 * token endpoint, signs its own client assertion with `jose`, obtains a token
 * and reads data — with RS384 and with ES384, the two algorithms the
 * specification requires servers to support.
 */
describe('a Backend Services client written from the spec', () => {
  let s: TestServer;
  let patient: string;

  before(async () => {
    s = await startTestServer();
    patient = (await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Backend' }] } })).body.id;
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'weight' }, subject: { reference: `Patient/${patient}` } };
    assert.equal((await s.fhir('/Observation', { method: 'POST', json: obs })).status, 201);
  });
  after(() => s.close());

  for (const alg of ['RS384', 'ES384'] as const) {
    it(`${alg}: discovery → signed assertion → token → reads; nothing beyond the scopes`, async () => {
      // 1. Keys and registration (the client's public JWK Set, with a kid).
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const kid = `k-${alg}`;
      const clientId = `spec-client-${alg.toLowerCase()}`;
      const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
      const reg = await admin(s, '/auth/admin/clients', { clientId, name: `Spec ${alg}`, scopes: 'system/Patient.rs system/Observation.rs', authMethod: 'private_key_jwt', jwks: { keys: [jwk] } });
      assert.equal(reg.status, 201, JSON.stringify(reg.body));

      // 2. Discovery.
      const config = (await (await fetch(`${s.fhirUrl}/.well-known/smart-configuration`)).json()) as Record<string, any>;
      assert.ok(config.grant_types_supported.includes('client_credentials'));
      assert.ok(config.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
      assert.ok(config.token_endpoint_auth_signing_alg_values_supported.includes(alg));
      const tokenEndpoint = String(config.token_endpoint);

      // 3. The authentication JWT: iss = sub = client_id, aud = token endpoint, exp ≤ 5 minutes, unique jti, kid in the header.
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({})
        .setProtectedHeader({ alg, kid, typ: 'JWT' })
        .setIssuer(clientId)
        .setSubject(clientId)
        .setAudience(tokenEndpoint)
        .setExpirationTime(now + 240)
        .setJti(randomUUID())
        .sign(privateKey);

      // 4. The token request.
      const res = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          scope: 'system/Patient.rs system/Observation.rs',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: assertion,
        }),
      });
      const token = (await res.json()) as Record<string, any>;
      assert.equal(res.status, 200, JSON.stringify(token));
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.equal(String(token.token_type).toLowerCase(), 'bearer');
      assert.equal(typeof token.expires_in, 'number');
      assert.ok(token.expires_in > 0 && token.expires_in <= 300, 'short-lived (the spec recommends ≤ 5 minutes)');
      assert.deepEqual(String(token.scope).split(' ').sort(), ['system/Observation.rs', 'system/Patient.rs']);
      assert.equal(token.refresh_token, undefined, 'no refresh token for client_credentials');

      // 5. Reading data.
      const auth = { authorization: `Bearer ${token.access_token}`, accept: 'application/fhir+json' };
      const read = await fetch(`${s.fhirUrl}/Patient/${patient}`, { headers: auth });
      assert.equal(read.status, 200);
      assert.equal(((await read.json()) as { id: string }).id, patient);
      const search = await fetch(`${s.fhirUrl}/Observation?subject=Patient/${patient}`, { headers: auth });
      assert.equal(search.status, 200);
      assert.equal(((await search.json()) as { entry?: unknown[] }).entry?.length, 1);
      const write = await fetch(`${s.fhirUrl}/Patient`, { method: 'POST', headers: { ...auth, 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Patient' }) });
      assert.equal(write.status, 403, 'rs scopes grant no writes');
      assert.equal((await fetch(`${s.fhirUrl}/Encounter`, { headers: auth })).status, 403, 'a type outside the scopes');

      // 6. The same assertion again is a replay (jti), refused.
      const replay = await fetch(tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Patient.rs', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion }),
      });
      assert.ok([400, 401].includes(replay.status), String(replay.status));
    });
  }
});
