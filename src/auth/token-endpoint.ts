import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import { systemClock } from '../kernel/index.js';
import type { Clock, TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { CLIENT_ASSERTION_ALGS } from './clients.js';
import type { ClientRegistry, OAuthClient } from './clients.js';
import { oauthError } from './oauth-errors.js';
import { grantScopes, splitScopes } from './scopes.js';
import { signAccessToken } from './access-token.js';
import type { SigningKeyStore } from './signing-keys.js';
import type { AppGrants, AppTokenResponse } from './app-grants.js';

/**
 * The token endpoint for SMART Backend Services: client_credentials with a
 * private_key_jwt client assertion (RFC 7523), answered with a short-lived
 * access token signed by Haven. Each check is one named step below.
 */
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TokenEndpointOptions {
  db: Queryable;
  clients: ClientRegistry;
  signingKeys: SigningKeyStore;
  /** Server base URL: the access token's iss. */
  issuer: string;
  /** FHIR base URL: the access token's aud. */
  audience: string;
  clock?: Clock;
  /** Access-token lifetime; SMART recommends ≤ 300 s. */
  accessTokenTtlSeconds?: number;
  clockSkewSeconds?: number;
  /** Longest client-assertion lifetime accepted (SMART: 5 minutes). */
  maxAssertionLifetimeSeconds?: number;
  /** authorization_code and refresh_token (SMART App Launch); absent: client_credentials only. */
  appGrants?: AppGrants;
}

export interface IssueTokenOptions {
  /** The URL the client posted to: client assertions must name it as aud. */
  tokenUrl: string;
  tenant: TenantId;
  /** Authorization header (client_secret_basic). */
  authorization?: string;
  requestId?: string;
  sourceIp?: string;
}

export interface TokenResponse {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
}

export interface TokenEndpoint {
  issueToken(form: Record<string, string | undefined>, options: IssueTokenOptions): Promise<TokenResponse | AppTokenResponse>;
}

interface TokenRequest {
  assertion: string;
  requestedScopes: string[];
  formClientId: string | undefined;
}

/** Step 1: the form names the grant, the assertion type, the assertion and a scope. */
export function readTokenRequest(form: Record<string, string | undefined>): TokenRequest {
  const grantType = form['grant_type'];
  if (!grantType) throw oauthError('invalid_request', 'grant_type is required');
  if (grantType !== 'client_credentials') {
    throw oauthError('unsupported_grant_type', 'grant_type must be client_credentials, authorization_code or refresh_token');
  }
  const assertionType = form['client_assertion_type'];
  const assertion = form['client_assertion'];
  if (!assertionType || !assertion) {
    throw oauthError('invalid_request', 'client_assertion_type and client_assertion are required');
  }
  // RFC 7521 §4.2: an assertion type the server does not understand is a client authentication failure.
  if (assertionType !== JWT_BEARER_ASSERTION) {
    throw oauthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
  }
  const requestedScopes = splitScopes(form['scope'] ?? '');
  if (requestedScopes.length === 0) throw oauthError('invalid_request', 'scope is required');
  return { assertion, requestedScopes, formClientId: form['client_id'] };
}

/** Step 2: read the (not yet trusted) client id and refuse unaccepted algorithms before any lookup. */
export function identifyClient(assertion: string, formClientId: string | undefined): string {
  let alg: unknown;
  let iss: unknown;
  let sub: unknown;
  try {
    alg = decodeProtectedHeader(assertion).alg;
    ({ iss, sub } = decodeJwt(assertion));
  } catch (err) {
    throw oauthError('invalid_client', 'client_assertion is not a well-formed JWT', err);
  }
  if (!(CLIENT_ASSERTION_ALGS as readonly unknown[]).includes(alg)) {
    throw oauthError('invalid_client', `client_assertion alg must be one of ${CLIENT_ASSERTION_ALGS.join(', ')}`);
  }
  if (typeof iss !== 'string' || iss === '' || iss !== sub) {
    throw oauthError('invalid_client', 'client_assertion iss and sub must both be the client_id');
  }
  if (formClientId !== undefined && formClientId !== iss) {
    throw oauthError('invalid_client', 'client_id does not match the client_assertion issuer');
  }
  return iss;
}

/** Step 3: the client must be registered and enabled. */
export async function loadClient(clients: ClientRegistry, tenant: TenantId, clientId: string): Promise<OAuthClient> {
  const client = await clients.get(tenant, clientId);
  if (!client || client.disabled) throw oauthError('invalid_client', 'Unknown or disabled client');
  return client;
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'client_assertion has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `client_assertion ${err.claim} claim is invalid`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'No registered key matches the client_assertion';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'client_assertion signature is invalid';
  return 'client_assertion could not be verified';
}

interface VerifiedAssertion {
  jti: string;
  exp: number;
}

/** Step 4: signature against the client's registered keys, then iss/sub/aud/exp/jti. */
export async function verifyAssertion(
  client: OAuthClient,
  assertion: string,
  tokenUrl: string,
  now: Date,
  limits: { skew: number; maxLifetime: number },
): Promise<VerifiedAssertion> {
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, createLocalJWKSet(client.jwks), {
      algorithms: [...CLIENT_ASSERTION_ALGS],
      issuer: client.clientId,
      subject: client.clientId,
      audience: tokenUrl,
      requiredClaims: ['exp', 'jti'],
      currentDate: now,
      clockTolerance: limits.skew,
    }));
  } catch (err) {
    throw oauthError('invalid_client', describeJoseError(err), err);
  }
  const { jti, exp } = payload as { jti: unknown; exp: number };
  if (typeof jti !== 'string' || jti === '' || jti.length > 256) {
    throw oauthError('invalid_client', 'client_assertion jti must be a non-empty string');
  }
  if (exp > now.getTime() / 1000 + limits.maxLifetime + limits.skew) {
    throw oauthError('invalid_client', `client_assertion exp must be at most ${limits.maxLifetime} seconds ahead`);
  }
  return { jti, exp };
}

/**
 * Step 5: a jti may be used once while its assertion is valid. A row left
 * behind by an expired assertion is taken over rather than counted as a replay.
 */
export async function recordJti(
  db: Queryable,
  tenant: TenantId,
  clientId: string,
  assertion: VerifiedAssertion,
  now: Date,
): Promise<void> {
  const res = await db.query(
    `INSERT INTO oauth_jti (tenant_id, client_id, jti, expires_at) VALUES ($1, $2, $3, to_timestamp($4))
     ON CONFLICT (tenant_id, client_id, jti) DO UPDATE SET expires_at = EXCLUDED.expires_at
     WHERE oauth_jti.expires_at < $5 RETURNING 1`,
    [tenant, clientId, assertion.jti, assertion.exp, now],
  );
  if (res.rowCount !== 1) throw oauthError('invalid_client', 'client_assertion jti has already been used');
}

/** Step 6: grant what was asked for and is allowed. */
export function grantRequestedScopes(client: OAuthClient, requested: string[]): string[] {
  const granted = grantScopes(requested, client.scopes);
  if (granted.length === 0) throw oauthError('invalid_scope', 'None of the requested scopes is allowed for this client');
  return granted;
}

const JTI_CLEANUP_INTERVAL_MS = 60_000;

export function createTokenEndpoint(options: TokenEndpointOptions): TokenEndpoint {
  const { db, clients, signingKeys, issuer, audience, clock = systemClock } = options;
  const ttlSeconds = options.accessTokenTtlSeconds ?? 300;
  const limits = { skew: options.clockSkewSeconds ?? 30, maxLifetime: options.maxAssertionLifetimeSeconds ?? 300 };
  let lastCleanup = 0;

  // Opportunistic: expired jti rows are useless, and one indexed delete a minute keeps the table small.
  const cleanupJtis = async (now: Date): Promise<void> => {
    if (now.getTime() - lastCleanup < JTI_CLEANUP_INTERVAL_MS) return;
    lastCleanup = now.getTime();
    await db.query('DELETE FROM oauth_jti WHERE expires_at < $1', [now]);
  };

  return {
    async issueToken(form, { tokenUrl, tenant, authorization, requestId, sourceIp }) {
      const grantType = form['grant_type'];
      if (options.appGrants && (grantType === 'authorization_code' || grantType === 'refresh_token')) {
        const req = { form, tokenUrl, tenant, requestId: requestId ?? 'unknown', ...(authorization ? { authorization } : {}), ...(sourceIp ? { sourceIp } : {}) };
        return grantType === 'authorization_code' ? options.appGrants.authorizationCode(req) : options.appGrants.refreshToken(req);
      }
      const now = clock.now();
      const request = readTokenRequest(form);
      const clientId = identifyClient(request.assertion, request.formClientId);
      const client = await loadClient(clients, tenant, clientId);
      if (client.authMethod !== 'private_key_jwt') throw oauthError('invalid_client', 'client_credentials needs a private_key_jwt client');
      const assertion = await verifyAssertion(client, request.assertion, tokenUrl, now, limits);
      await cleanupJtis(now);
      await recordJti(db, tenant, clientId, assertion, now);
      const scopes = grantRequestedScopes(client, request.requestedScopes);
      const accessToken = await signAccessToken(signingKeys, {
        tenant,
        clientId,
        scopes,
        isAdmin: client.isAdmin,
        issuer,
        audience,
        now,
        ttlSeconds,
      });
      return { access_token: accessToken, token_type: 'bearer', expires_in: ttlSeconds, scope: scopes.join(' ') };
    },
  };
}
