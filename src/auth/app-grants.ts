import type { TenantId } from '../kernel/index.js';
import type { AuthAuditor } from './auth-audit.js';
import { authenticateClient, type ClientAuthDeps } from './client-auth.js';
import type { OAuthClient } from './clients.js';
import type { FhirContextItem } from './fhir-context.js';
import type { Grant, GrantStore } from './grants.js';
import { signAccessToken } from './access-token.js';
import { signIdToken } from './id-token.js';
import { oauthError } from './oauth-errors.js';
import { splitScopes } from './scopes.js';
import { PKCE_PATTERN, pkceChallenge, safeEqual } from './secrets.js';
import type { SigningKeyStore } from './signing-keys.js';
import type { Plane, UserStore } from './users.js';

/**
 * The user grants of the token endpoint (SMART App Launch): authorization_code
 * with PKCE, and refresh_token with rotation. Every step fails with the RFC 6749
 * error the spec names; reuse of a code or rotated refresh token revokes the grant.
 */
export interface AppGrantsDeps {
  clientAuth: ClientAuthDeps;
  grants: GrantStore;
  users: UserStore;
  accessKeys: SigningKeyStore;
  idTokenKeys: SigningKeyStore;
  issuer: string;
  /** FHIR base URL: access-token audience. */
  audience: string;
  /** Access-token lifetime of the user's identity plane, seconds. */
  accessTokenTtlSeconds(plane: Plane): number;
  audit: AuthAuditor;
}

export interface AppGrantRequest {
  form: Record<string, string | undefined>;
  authorization?: string;
  tokenUrl: string;
  tenant: TenantId;
  requestId: string;
  sourceIp?: string;
}

export interface AppTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  id_token?: string;
  patient?: string;
  encounter?: string;
  fhirContext?: FhirContextItem[];
  need_patient_banner?: boolean;
  smart_style_url?: string;
}

export function createAppGrants(deps: AppGrantsDeps) {
  const { grants, clock } = { ...deps, clock: deps.clientAuth.clock };
  const event = (req: AppGrantRequest, grant: Grant, name: 'token-issued' | 'token-refreshed' | 'code-reuse' | 'refresh-reuse', outcome: 'success' | 'failure') =>
    deps.audit({
      tenant: req.tenant,
      event: name,
      outcome,
      subject: grant.userId,
      clientId: grant.clientId,
      kind: 'user',
      requestId: req.requestId,
      ...(req.sourceIp ? { sourceIp: req.sourceIp } : {}),
      ...(grant.context.patient ? { patient: `Patient/${grant.context.patient}` } : {}),
    });

  const revokeReused = async (req: AppGrantRequest, grantId: string, what: 'code-reuse' | 'refresh-reuse'): Promise<never> => {
    await grants.revokeGrant(req.tenant, grantId, what, clock.now());
    const grant = await grants.grant(req.tenant, grantId);
    if (grant) await event(req, grant, what, 'failure');
    throw oauthError('invalid_grant', what === 'code-reuse' ? 'The authorization code has already been used' : 'The refresh token has already been used');
  };

  const respond = async (req: AppGrantRequest, grant: Grant, scopes: string[]): Promise<AppTokenResponse> => {
    const now = clock.now();
    const user = await deps.users.get(req.tenant, grant.userId);
    if (!user || user.disabled) throw oauthError('invalid_grant', 'The user of this grant is no longer active');
    const ctx = grant.context;
    const ttl = deps.accessTokenTtlSeconds(user.plane);
    const access = await signAccessToken(deps.accessKeys, {
      tenant: req.tenant,
      clientId: grant.clientId,
      userId: grant.userId,
      scopes,
      isAdmin: false,
      issuer: deps.issuer,
      audience: deps.audience,
      now,
      ttlSeconds: ttl,
      grantId: grant.grantId,
      ...(ctx.patient ? { patient: ctx.patient } : {}),
      ...(ctx.encounter ? { encounter: ctx.encounter } : {}),
      ...(ctx.fhirUser ? { fhirUser: ctx.fhirUser } : {}),
    });
    const wantsRefresh = scopes.includes('offline_access') || scopes.includes('online_access');
    const refresh = wantsRefresh ? await grants.issueRefresh(req.tenant, grant.grantId, now, grant.expiresAt) : undefined;
    const idToken = scopes.includes('openid')
      ? await signIdToken(deps.idTokenKeys, {
          tenant: req.tenant,
          issuer: deps.issuer,
          clientId: grant.clientId,
          userId: grant.userId,
          ...(scopes.includes('fhirUser') && ctx.fhirUser ? { fhirUser: ctx.fhirUser } : {}),
          ...(ctx.nonce ? { nonce: ctx.nonce } : {}),
          ...(ctx.authTime ? { authTime: ctx.authTime } : {}),
          accessToken: access,
          now,
          ttlSeconds: ttl,
        })
      : undefined;
    return {
      access_token: access,
      token_type: 'Bearer',
      expires_in: ttl,
      scope: scopes.join(' '),
      ...(refresh ? { refresh_token: refresh } : {}),
      ...(idToken ? { id_token: idToken } : {}),
      ...(ctx.patient ? { patient: ctx.patient } : {}),
      ...(ctx.encounter ? { encounter: ctx.encounter } : {}),
      ...(ctx.fhirContext?.length ? { fhirContext: ctx.fhirContext } : {}),
      ...(ctx.needPatientBanner !== undefined ? { need_patient_banner: ctx.needPatientBanner } : {}),
      ...(ctx.smartStyleUrl ? { smart_style_url: ctx.smartStyleUrl } : {}),
    };
  };

  const client = (req: AppGrantRequest): Promise<OAuthClient> =>
    authenticateClient(deps.clientAuth, req.tenant, {
      form: req.form,
      ...(req.authorization ? { authorization: req.authorization } : {}),
      audiences: [req.tokenUrl],
    });

  return {
    async authorizationCode(req: AppGrantRequest): Promise<AppTokenResponse> {
      const { code, redirect_uri: redirectUri, code_verifier: verifier } = req.form;
      if (!code || !redirectUri) throw oauthError('invalid_request', 'code and redirect_uri are required');
      if (!verifier || !PKCE_PATTERN.test(verifier)) throw oauthError('invalid_request', 'code_verifier is required (RFC 7636: 43-128 characters)');
      const authenticated = await client(req);
      const found = await grants.redeemCode(req.tenant, code, clock.now());
      if (found.kind === 'reused') return revokeReused(req, found.grantId, 'code-reuse');
      if (found.kind === 'invalid') throw oauthError('invalid_grant', 'The authorization code is invalid or has expired');
      if (found.clientId !== authenticated.clientId) throw oauthError('invalid_grant', 'The authorization code was issued to another client');
      if (found.redirectUri !== redirectUri) throw oauthError('invalid_grant', 'redirect_uri differs from the authorization request');
      if (!safeEqual(pkceChallenge(verifier), found.codeChallenge)) throw oauthError('invalid_grant', 'code_verifier does not match the code_challenge');
      const response = await respond(req, found.grant, found.grant.scopes);
      await event(req, found.grant, 'token-issued', 'success');
      return response;
    },
    async refreshToken(req: AppGrantRequest): Promise<AppTokenResponse> {
      const token = req.form['refresh_token'];
      if (!token) throw oauthError('invalid_request', 'refresh_token is required');
      const authenticated = await client(req);
      const rotated = await grants.rotateRefresh(req.tenant, token, clock.now());
      if (rotated.kind === 'reused') return revokeReused(req, rotated.grantId, 'refresh-reuse');
      if (rotated.kind === 'invalid') throw oauthError('invalid_grant', 'The refresh token is invalid, expired or revoked');
      const grant = rotated.grant;
      if (grant.clientId !== authenticated.clientId) throw oauthError('invalid_grant', 'The refresh token was issued to another client');
      // RFC 6749 §6: a narrower scope may be asked for, never a wider one.
      const asked = req.form['scope'] === undefined ? grant.scopes : splitScopes(req.form['scope']);
      const wider = asked.filter((s) => !grant.scopes.includes(s));
      if (wider.length > 0) throw oauthError('invalid_scope', `Scopes not in the original grant: ${wider.join(' ')}`);
      const response = await respond(req, grant, asked);
      await event(req, grant, 'token-refreshed', 'success');
      return response;
    },
  };
}

export type AppGrants = ReturnType<typeof createAppGrants>;
