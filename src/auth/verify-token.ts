import { createHash } from 'node:crypto';
import { HavenError, systemClock } from '../kernel/index.js';
import type { Clock, Principal, TenantId } from '../kernel/index.js';
import { ACCESS_TOKEN_TYP } from './access-token.js';
import { parseCompactJws, signatureValid } from './compact-jws.js';
import type { CompactJws } from './compact-jws.js';
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

/** The parsed token and its unverified routing data: which tenant's key with which kid. Only used to pick the key. */
function routeToken(token: string): { jws: CompactJws; kid: string; tenant: TenantId } {
  const jws = parseCompactJws(token);
  const { alg, kid } = jws?.header ?? {};
  const tenant = jws?.payload.tenant;
  if (jws && typeof alg === 'string' && ACCESS_TOKEN_ALGS.includes(alg) && typeof kid === 'string' && typeof tenant === 'string') {
    return { jws, kid, tenant: tenant as TenantId };
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
  return tokenError('AUTH_TOKEN_INVALID', 'The access token is invalid', err);
}

const claimInvalid = (claim: string) => tokenError('AUTH_TOKEN_INVALID', `The access token ${claim} claim is invalid`);
/** RFC 7515 §4.1.9: a typ without "/" stands for application/<typ>; media types compare case-insensitively. */
const mediaType = (typ: string) => (typ.includes('/') ? typ : `application/${typ}`).toLowerCase();

/**
 * The checks jose's jwtVerify made with our options (typ, required claims, iss,
 * aud, iat/nbf/exp with clock tolerance), in its order, so a token fails with
 * the same error as before.
 */
function checkClaims(options: TokenVerifierOptions, jws: CompactJws, nowMs: number): void {
  const { header, payload } = jws;
  if (typeof header.typ !== 'string' || mediaType(header.typ) !== mediaType(ACCESS_TOKEN_TYP)) throw claimInvalid('typ');
  const missing = ['iss', 'aud', 'sub', 'exp'].find((claim) => !Object.hasOwn(payload, claim));
  if (missing !== undefined) throw claimInvalid(missing);
  if (payload.iss !== options.issuer) throw claimInvalid('iss');
  const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience;
  const { aud, iat, nbf, exp } = payload;
  const addressed = typeof aud === 'string' ? audiences.includes(aud) : Array.isArray(aud) && audiences.some((a) => aud.includes(a));
  if (!addressed) throw claimInvalid('aud');
  const now = Math.floor(nowMs / 1000);
  const tolerance = options.clockSkewSeconds ?? 30;
  if (iat !== undefined && typeof iat !== 'number') throw claimInvalid('iat');
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + tolerance)) throw claimInvalid('nbf');
  if (typeof exp !== 'number') throw claimInvalid('exp');
  if (exp <= now - tolerance) throw tokenError('AUTH_TOKEN_EXPIRED', 'The access token has expired');
}

/** The uncached path: pick the key by (tenant, kid), check the signature (compact-jws.ts), then the claims. */
async function verifySignature(options: TokenVerifierOptions, token: string, nowMs: number): Promise<CacheEntry> {
  const { jws, kid, tenant } = routeToken(token);
  const key = await options.keys.verificationKey(tenant, kid);
  if (!key) throw tokenError('AUTH_TOKEN_INVALID', 'The access token was not signed by a known key');
  if (!signatureValid(jws, key)) throw tokenError('AUTH_TOKEN_INVALID', 'The access token is invalid');
  checkClaims(options, jws, nowMs);
  const principal = toPrincipal(jws.payload, tenant);
  const { nbf } = jws.payload;
  return { principal, expMs: principal.expiresAt, nbfMs: typeof nbf === 'number' ? nbf * 1000 : 0 };
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
