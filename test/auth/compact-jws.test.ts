import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import type { CryptoKey } from 'jose';
import { HavenError, asTenantId } from '../../src/kernel/index.js';
import { createSigningKeyStore, createTokenVerifier } from '../../src/auth/index.js';
import { signAccessToken } from '../../src/auth/access-token.js';
import { FHIR_BASE, ISSUER, TENANT, createHarness } from './harness.js';
import type { AuthHarness } from './harness.js';

/**
 * The verifier checks Haven's access tokens itself with node:crypto (compact-jws.ts);
 * these tokens are signed by the tenant's real key, so each is refused only by the
 * check it names.
 */
async function rejectsWith(promise: Promise<unknown>, code: string, message?: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof HavenError, String(err));
    assert.equal(err.code, code);
    if (message !== undefined) assert.equal(err.message, message);
    return true;
  });
}

const b64u = (s: string) => Buffer.from(s).toString('base64url');
const b64 = (s: string) => Buffer.from(s).toString('base64').replace(/=+$/, '');

describe('access-token signature and claim checks', () => {
  let h: AuthHarness;
  let kid: string;
  let privateKey: CryptoKey;

  /** ES256 over exactly `encodedHeader.encodedPayload`, as the issuer would sign it. */
  const signRaw = async (encodedHeader: string, encodedPayload: string): Promise<string> => {
    const input = `${encodedHeader}.${encodedPayload}`;
    const sig = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, Buffer.from(input));
    return `${input}.${Buffer.from(sig).toString('base64url')}`;
  };
  const claims = (extra: Record<string, unknown> = {}) => {
    const now = Math.floor(h.clock.now().getTime() / 1000);
    return { iss: ISSUER, aud: FHIR_BASE, sub: 'app', client_id: 'app', scope: 'system/*.rs', tenant: TENANT, iat: now, exp: now + 300, ...extra };
  };
  const header = (extra: Record<string, unknown> = {}) => ({ alg: 'ES256', kid, typ: 'at+jwt', ...extra });
  const sign = (hdr: Record<string, unknown>, payload: Record<string, unknown>) => signRaw(b64u(JSON.stringify(hdr)), b64u(JSON.stringify(payload)));
  const verify = (token: string) => h.verifier.verify(`Bearer ${token}`, TENANT);

  before(async () => {
    h = await createHarness();
    ({ kid, privateKey } = await h.keys.activeKey(TENANT));
  });
  after(async () => h.testDb.drop());

  it('accepts a well-formed token, a media-type typ in any case and an aud array naming us', async () => {
    assert.equal((await verify(await sign(header(), claims()))).subject, 'app');
    assert.equal((await verify(await sign(header({ typ: 'application/AT+JWT' }), claims({ aud: ['https://x.test', FHIR_BASE] })))).clientId, 'app');
  });

  it('refuses a header alg other than the key alg, even over a valid signature', async () => {
    await rejectsWith(verify(await sign(header({ alg: 'EdDSA' }), claims())), 'AUTH_TOKEN_INVALID', 'The access token is invalid');
  });

  it('refuses a critical header extension', async () => {
    await rejectsWith(verify(await sign(header({ crit: ['exp'], exp: 1 }), claims())), 'AUTH_TOKEN_INVALID', 'The access token is invalid');
  });

  it('refuses a wrong segment count', async () => {
    const token = await sign(header(), claims());
    const [h64, p64] = token.split('.') as [string, string, string];
    await rejectsWith(verify(`${token}.x`), 'AUTH_TOKEN_INVALID', 'The access token is malformed');
    await rejectsWith(verify(`${token}.`), 'AUTH_TOKEN_INVALID', 'The access token is malformed');
    await rejectsWith(verify(`${h64}.${p64}`), 'AUTH_TOKEN_INVALID', 'The access token is malformed');
  });

  it('refuses segments that are not strict base64url', async () => {
    // A header whose base64url holds "_" and "-": the same bytes in the standard alphabet ("/", "+") are refused.
    const odd = header({ note: '??>>??>>' });
    assert.match(b64u(JSON.stringify(odd)), /[-_]/);
    await rejectsWith(verify(await signRaw(b64(JSON.stringify(odd)), b64u(JSON.stringify(claims())))), 'AUTH_TOKEN_INVALID', 'The access token is malformed');
    const token = await sign(header(), claims());
    const [h64, p64, s64] = token.split('.') as [string, string, string];
    await rejectsWith(verify(`${h64}.${p64}.${s64.slice(0, 40)}~${s64.slice(40)}`), 'AUTH_TOKEN_INVALID', 'The access token is invalid');
    await rejectsWith(verify(`${h64}.${p64.slice(0, 20)}~${p64.slice(20)}.${s64}`), 'AUTH_TOKEN_INVALID', 'The access token is malformed');
    await rejectsWith(verify(`${h64}.${p64}.${s64}AA`), 'AUTH_TOKEN_INVALID', 'The access token is invalid');
  });

  it('refuses non-JSON and non-object headers and payloads without throwing anything else', async () => {
    const good = await sign(header(), claims());
    const [h64, p64, s64] = good.split('.') as [string, string, string];
    for (const token of [`${b64u('{')}.${p64}.${s64}`, `${b64u('[1]')}.${p64}.${s64}`, `${h64}.${b64u('null')}.${s64}`, `${h64}.${Buffer.from([0xff, 0xfe]).toString('base64url')}.${s64}`, '..', 'a', `${h64}..${s64}`]) {
      await rejectsWith(verify(token), 'AUTH_TOKEN_INVALID', 'The access token is malformed');
    }
    // Valid JSON once invalid UTF-8 is replaced: refused, not read as U+FFFD.
    const json = Buffer.from(JSON.stringify(claims({ note: 'X' })));
    json[json.indexOf('"X"') + 1] = 0xff;
    await rejectsWith(verify(await signRaw(h64, json.toString('base64url'))), 'AUTH_TOKEN_INVALID', 'The access token is malformed');
  });

  it('checks claims as before: required, iss, aud array, iat/nbf/exp types and clock tolerance', async () => {
    const without = (claim: string) => Object.fromEntries(Object.entries(claims()).filter(([k]) => k !== claim));
    for (const claim of ['iss', 'aud', 'sub', 'exp']) {
      await rejectsWith(verify(await sign(header(), without(claim))), 'AUTH_TOKEN_INVALID', `The access token ${claim} claim is invalid`);
    }
    await rejectsWith(verify(await sign(header(), claims({ iss: `${ISSUER}/` }))), 'AUTH_TOKEN_INVALID', 'The access token iss claim is invalid');
    await rejectsWith(verify(await sign(header(), claims({ aud: ['https://x.test'] }))), 'AUTH_TOKEN_INVALID', 'The access token aud claim is invalid');
    await rejectsWith(verify(await sign(header(), claims({ aud: 7 }))), 'AUTH_TOKEN_INVALID', 'The access token aud claim is invalid');
    await rejectsWith(verify(await sign(header(), claims({ iat: 'now' }))), 'AUTH_TOKEN_INVALID', 'The access token iat claim is invalid');
    await rejectsWith(verify(await sign(header(), claims({ nbf: 'now' }))), 'AUTH_TOKEN_INVALID', 'The access token nbf claim is invalid');
    await rejectsWith(verify(await sign(header(), claims({ exp: String(claims().exp) }))), 'AUTH_TOKEN_INVALID', 'The access token exp claim is invalid');
    await rejectsWith(verify(await sign(header({ typ: 'JWT' }), claims())), 'AUTH_TOKEN_INVALID', 'The access token typ claim is invalid');
    const now = claims().iat;
    // 30 s tolerance: nbf up to now+30 and exp after now-30 pass; one second further fails.
    assert.ok(await verify(await sign(header(), claims({ nbf: now + 30 }))));
    await rejectsWith(verify(await sign(header(), claims({ nbf: now + 31 }))), 'AUTH_TOKEN_INVALID', 'The access token nbf claim is invalid');
    assert.ok(await verify(await sign(header(), claims({ exp: now - 29 }))));
    await rejectsWith(verify(await sign(header(), claims({ exp: now - 30 }))), 'AUTH_TOKEN_EXPIRED', 'The access token has expired');
  });

  it('verifies EdDSA tokens of an EdDSA key and refuses an ES256 header for that key', async () => {
    const edKeys = createSigningKeyStore({ db: h.testDb.db, clock: h.clock, purpose: 'access-token', alg: 'EdDSA' });
    const tenant = asTenantId('ed-tenant');
    const verifier = createTokenVerifier({ issuer: ISSUER, audience: FHIR_BASE, keys: edKeys, clock: h.clock });
    const token = await signAccessToken(edKeys, { tenant, clientId: 'app', scopes: ['system/*.rs'], isAdmin: false, issuer: ISSUER, audience: FHIR_BASE, now: h.clock.now(), ttlSeconds: 300 });
    assert.equal(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).alg, 'EdDSA');
    assert.equal((await verifier.verify(`Bearer ${token}`, tenant)).tenant, tenant);
    const edKid = (await edKeys.activeKey(tenant)).kid;
    const es = await sign(header({ kid: edKid }), claims({ tenant }));
    await rejectsWith(verifier.verify(`Bearer ${es}`, tenant), 'AUTH_TOKEN_INVALID', 'The access token is invalid');
  });
});
