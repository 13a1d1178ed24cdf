import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { TenantId } from '../kernel/index.js';
import type { SigningKeyStore } from './signing-keys.js';

/** RFC 9068 media type: lets the verifier refuse any other JWT Haven might ever sign with the same key. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/** Claims Haven puts in its access tokens beyond the registered ones (iss, aud, sub, exp, iat, jti). */
export interface AccessTokenClaims {
  client_id: string;
  /** Space-separated granted scopes. */
  scope: string;
  tenant: string;
  /** Present and true only for admin clients. */
  haven_admin?: true;
  /** User tokens (authorization code): the launch context and the grant they belong to. */
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  /** Grant id: revoking the grant revokes the token. */
  grant?: string;
}

export interface SignAccessTokenInput {
  tenant: TenantId;
  clientId: string;
  scopes: string[];
  isAdmin: boolean;
  issuer: string;
  audience: string;
  now: Date;
  ttlSeconds: number;
  /** User tokens: the user id (sub), else the client id. */
  userId?: string;
  patient?: string;
  encounter?: string;
  fhirUser?: string;
  grantId?: string;
}

export async function signAccessToken(keys: SigningKeyStore, input: SignAccessTokenInput): Promise<string> {
  const key = await keys.activeKey(input.tenant);
  const iat = Math.floor(input.now.getTime() / 1000);
  const claims: AccessTokenClaims = {
    client_id: input.clientId,
    scope: input.scopes.join(' '),
    tenant: input.tenant,
    ...(input.isAdmin ? { haven_admin: true as const } : {}),
    ...(input.patient ? { patient: input.patient } : {}),
    ...(input.encounter ? { encounter: input.encounter } : {}),
    ...(input.fhirUser ? { fhirUser: input.fhirUser } : {}),
    ...(input.grantId ? { grant: input.grantId } : {}),
  };
  return new SignJWT({ ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: ACCESS_TOKEN_TYP })
    .setIssuer(input.issuer)
    .setAudience(input.audience)
    .setSubject(input.userId ?? input.clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + input.ttlSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
}
