import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import type { TenantId } from '../kernel/index.js';
import type { SigningKeyStore } from './signing-keys.js';

export interface IdTokenInput {
  tenant: TenantId;
  issuer: string;
  clientId: string;
  userId: string;
  /** Absolute URL of the user's FHIR resource (SMART: resolvable fhirUser). */
  fhirUser?: string;
  nonce?: string;
  authTime?: number;
  accessToken: string;
  now: Date;
  ttlSeconds: number;
}

/** OpenID Connect Core §3.1.3.6: left half of the SHA-256 of the access token. */
function atHash(accessToken: string): string {
  const digest = createHash('sha256').update(accessToken, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** An OpenID Connect id_token (RS256, the algorithm every relying party supports), verifiable from the JWKS. */
export async function signIdToken(keys: SigningKeyStore, input: IdTokenInput): Promise<string> {
  const key = await keys.activeKey(input.tenant);
  const iat = Math.floor(input.now.getTime() / 1000);
  return new SignJWT({
    ...(input.fhirUser ? { fhirUser: input.fhirUser } : {}),
    ...(input.nonce ? { nonce: input.nonce } : {}),
    ...(input.authTime ? { auth_time: input.authTime } : {}),
    at_hash: atHash(input.accessToken),
  })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(input.issuer)
    .setAudience(input.clientId)
    .setSubject(input.userId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + input.ttlSeconds)
    .sign(key.privateKey);
}
