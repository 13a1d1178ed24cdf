import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { HavenError, systemClock } from '../kernel/index.js';
import type { Clock, Principal, TenantId } from '../kernel/index.js';
import { ACCESS_TOKEN_TYP } from './access-token.js';
import type { SigningKeyStore } from './signing-keys.js';

/** A Principal from a verified Haven access token, with the token's tenant and expiry. */
export interface VerifiedPrincipal extends Principal {
  readonly tenant: TenantId;
  readonly isAdmin: boolean;
  /** Access-token jti, for audit. */
  readonly tokenId: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  /** SMART launch context of a user token: the patient id (no type prefix). */
  readonly patient?: string;
  readonly encounter?: string;
  readonly fhirUser?: string;
  /** The grant a user token belongs to (revocation). */
  readonly grantId?: string;
}

export interface TokenVerifierOptions {
  issuer: string;
  /** FHIR base URL(s) the token must be addressed to. */
  audience: string | string[];
  keys: Pick<SigningKeyStore, 'verificationKey'>;
  clock?: Clock;
  clockSkewSeconds?: number;
  /** Verified tokens kept in memory (LRU). */
  cacheSize?: number;
  /** Revoked grants and jtis (RFC 7009); checked on every request, cached or not. */
  revocations?: { isRevoked(tenant: TenantId, grantId: string | undefined, jti: string): Promise<boolean> };
}

export interface TokenVerifier {
  /** Check an Authorization header; when expectedTenant is given, a token for another tenant is refused. */
  verify(authorizationHeader?: string, expectedTenant?: TenantId): Promise<VerifiedPrincipal>;
}

type TokenErrorCode = 'AUTH_TOKEN_MISSING' | 'AUTH_TOKEN_INVALID' | 'AUTH_TOKEN_EXPIRED';

/** RFC 6750 §3.1: a request without credentials gets no error attribute. */
function tokenError(code: TokenErrorCode, message: string, cause?: unknown): HavenError {
  const challenge = code === 'AUTH_TOKEN_MISSING' ? 'Bearer realm="haven"' : 'Bearer realm="haven", error="invalid_token"';
  return new HavenError('unauthenticated', code, message, {
    headers: { 'WWW-Authenticate': challenge },
    ...(cause === undefined ? {} : { cause }),
  });
}

const ACCESS_TOKEN_ALGS = ['ES256', 'EdDSA'];
const bearerPattern = /^Bearer +([A-Za-z0-9._~+/-]+=*) *$/i;

function extractToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') throw tokenError('AUTH_TOKEN_MISSING', 'A bearer token is required');
  const m = bearerPattern.exec(header);
  if (!m?.[1]) throw tokenError('AUTH_TOKEN_INVALID', 'The Authorization header must be "Bearer <token>"');
  return m[1];
}

interface CacheEntry {
  principal: VerifiedPrincipal;
  expMs: number;
  nbfMs: number;
}

/** Unverified routing data: which tenant's key with which kid. Only used to pick the key. */
function routeToken(token: string): { kid: string; tenant: TenantId } {
  try {
    const { kid, alg } = decodeProtectedHeader(token);
    const { tenant } = decodeJwt(token);
    if (typeof kid === 'string' && typeof tenant === 'string' && ACCESS_TOKEN_ALGS.includes(alg ?? '')) {
      return { kid, tenant: tenant as TenantId };
    }
  } catch {
    // fall through: malformed
  }
  throw tokenError('AUTH_TOKEN_INVALID', 'The access token is malformed');
}

function toPrincipal(payload: Record<string, unknown>, tenant: TenantId): VerifiedPrincipal {
  const { sub, client_id: clientId, scope, jti, exp, haven_admin: admin, patient, encounter, fhirUser, grant } = payload;
  if (typeof sub !== 'string' || typeof clientId !== 'string' || typeof scope !== 'string' || typeof exp !== 'number') {
    throw tokenError('AUTH_TOKEN_INVALID', 'The access token lacks required claims');
  }
  const scopes = Object.freeze(scope.split(' ').filter((s) => s !== '')) as string[];
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const context = { patient: str(patient), encounter: str(encounter), fhirUser: str(fhirUser), grantId: str(grant) };
  return Object.freeze({
    subject: sub,
    clientId,
    // A user token names the user as sub; a client token names the client.
    kind: sub === clientId ? ('client' as const) : ('user' as const),
    ...Object.fromEntries(Object.entries(context).filter(([, v]) => v !== undefined)),
    scopes,
    tenant,
    isAdmin: admin === true,
    tokenId: typeof jti === 'string' ? jti : '',
    expiresAt: exp * 1000,
  });
}

function describe(err: unknown): HavenError {
  if (err instanceof HavenError) return err;
  if (err instanceof joseErrors.JWTExpired) return tokenError('AUTH_TOKEN_EXPIRED', 'The access token has expired', err);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    return tokenError('AUTH_TOKEN_INVALID', `The access token ${err.claim} claim is invalid`, err);
  }
  return tokenError('AUTH_TOKEN_INVALID', 'The access token is invalid', err);
}

/** The uncached path: pick the key by (tenant, kid), then let jose check signature, typ, iss, aud, exp, nbf. */
async function verifySignature(options: TokenVerifierOptions, token: string, nowMs: number): Promise<CacheEntry> {
  const { kid, tenant } = routeToken(token);
  const key = await options.keys.verificationKey(tenant, kid);
  if (!key) throw tokenError('AUTH_TOKEN_INVALID', 'The access token was not signed by a known key');
  const { payload } = await jwtVerify(token, key.key, {
    algorithms: [key.alg],
    issuer: options.issuer,
    audience: options.audience,
    typ: ACCESS_TOKEN_TYP,
    requiredClaims: ['exp', 'sub'],
    currentDate: new Date(nowMs),
    clockTolerance: options.clockSkewSeconds ?? 30,
  });
  const principal = toPrincipal(payload, tenant);
  return { principal, expMs: principal.expiresAt, nbfMs: typeof payload.nbf === 'number' ? payload.nbf * 1000 : 0 };
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const clock = options.clock ?? systemClock;
  const skewMs = (options.clockSkewSeconds ?? 30) * 1000;
  const cacheSize = options.cacheSize ?? 10_000;
  // Keyed by SHA-256 of the token, so the bearer secret itself is not kept in the heap.
  const cache = new Map<string, CacheEntry>();

  const lookup = async (token: string): Promise<VerifiedPrincipal> => {
    const nowMs = clock.now().getTime();
    const hash = createHash('sha256').update(token).digest('base64url');
    const hit = cache.get(hash);
    if (hit) {
      if (nowMs >= hit.expMs + skewMs) {
        cache.delete(hash);
        throw tokenError('AUTH_TOKEN_EXPIRED', 'The access token has expired');
      }
      if (nowMs + skewMs >= hit.nbfMs) {
        cache.delete(hash); // re-insert: most recently used goes last
        cache.set(hash, hit);
        return hit.principal;
      }
    }
    const entry = await verifySignature(options, token, nowMs).catch((err: unknown) => {
      throw describe(err);
    });
    cache.delete(hash);
    cache.set(hash, entry);
    // Map keeps insertion order: the first key is the least recently verified.
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
    return entry.principal;
  };

  return {
    async verify(authorizationHeader, expectedTenant) {
      const principal = await lookup(extractToken(authorizationHeader));
      if (expectedTenant !== undefined && principal.tenant !== expectedTenant) {
        throw tokenError('AUTH_TOKEN_INVALID', 'The access token was issued for another tenant');
      }
      if (options.revocations && (await options.revocations.isRevoked(principal.tenant, principal.grantId, principal.tokenId))) {
        throw tokenError('AUTH_TOKEN_INVALID', 'The access token has been revoked');
      }
      return principal;
    },
  };
}
