import { randomUUID } from 'node:crypto';
import { SignJWT, importJWK } from 'jose';
import type { JWK } from 'jose';

export interface ClientAssertionOptions {
  clientId: string;
  /** Private JWK with `alg` (RS384 or ES384) and ideally `kid`. */
  privateJwk: JWK;
  tokenUrl: string;
  /** Lifetime in seconds; SMART allows at most 300. */
  expiresInSeconds?: number;
  /** Overrides for tests: a fixed jti or issue time. */
  jti?: string;
  now?: Date;
}

/**
 * A SMART Backend Services client assertion (RFC 7523 private_key_jwt):
 * iss = sub = client_id, aud = token URL, short exp, unique jti.
 * Used by `haven token` and tests.
 */
export async function createClientAssertion(options: ClientAssertionOptions): Promise<string> {
  const { clientId, privateJwk, tokenUrl } = options;
  const alg = privateJwk.alg;
  if (alg !== 'RS384' && alg !== 'ES384') throw new Error('privateJwk.alg must be RS384 or ES384');
  const key = await importJWK(privateJwk, alg);
  const iat = Math.floor((options.now ?? new Date()).getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg, typ: 'JWT', ...(privateJwk.kid ? { kid: privateJwk.kid } : {}) })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(tokenUrl)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.expiresInSeconds ?? 120))
    .setJti(options.jti ?? randomUUID())
    .sign(key);
}
