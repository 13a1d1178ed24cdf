import * as oidc from 'openid-client';
import { HavenError } from '../kernel/index.js';
import type { TenantId } from '../kernel/index.js';
import type { AppUser, UserStore } from './users.js';

/**
 * Sign-in through an external OpenID provider (Okta, Entra ID, Keycloak, …):
 * discovery, authorization code + PKCE, id_token validation (openid-client, a
 * certified relying party), claim-to-role mapping and just-in-time provisioning
 * of a workforce user. Patients are never provisioned this way.
 */
export interface FederationSettings {
  /** Short name of the provider (`entra`, `okta-affiliate`): picks it on the sign-in page and in its callback. */
  id: string;
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Haven's callback URL, registered at the provider. */
  redirectUri: string;
  /** id_token claim holding the provider's groups/roles. */
  rolesClaim: string;
  /** Provider group → Haven role; users with no mapped role are refused. */
  roleMap: ReadonlyMap<string, string>;
  /** Label of the sign-in button. */
  name: string;
  /** Appended to a provider's username that another user already has (`nurse@entra`). */
  usernameQualifier: string;
}

/** What must survive the round trip to the provider; kept in the pending authorization request. */
export interface FederationChecks {
  /** The provider the browser was sent to: only its callback may finish this sign-in. */
  provider: string;
  state: string;
  nonce: string;
  verifier: string;
}

/** `a=b,c=d` → Map; each entry a provider group and the Haven role it grants. */
export function parseRoleMap(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const pair of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [group, role] = pair.split('=').map((x) => x?.trim());
    if (!group || !role) throw new TypeError(`role map entry "${pair}" must be group=role`);
    map.set(group, role);
  }
  return map;
}

const MFA_AMR = new Set(['mfa', 'otp', 'hwk', 'swk', 'sc', 'fpt', 'face']);

export function createFederation(settings: FederationSettings, deps: { users: UserStore; allowHttp?: boolean }) {
  let config: Promise<oidc.Configuration> | undefined;
  const discover = () => {
    config ??= oidc
      .discovery(new URL(settings.issuer), settings.clientId, settings.clientSecret, undefined, deps.allowHttp ? { execute: [oidc.allowInsecureRequests] } : undefined)
      .catch((err: unknown) => {
        config = undefined; // retry on the next sign-in
        throw new HavenError('unavailable', 'AUTH_FEDERATION_UNAVAILABLE', 'The external identity provider cannot be reached', { cause: err });
      });
    return config;
  };

  return {
    id: settings.id,
    name: settings.name,
    /** Path of Haven's callback for this provider (registered there as the redirect URI). */
    callbackPath: new URL(settings.redirectUri).pathname,
    /** Where "sign in with…" sends the browser: the provider's origin (its authorization endpoint lives there). */
    origin: new URL(settings.issuer).origin,
    async start(state: string): Promise<{ url: string; checks: FederationChecks }> {
      const verifier = oidc.randomPKCECodeVerifier();
      const nonce = oidc.randomNonce();
      const url = oidc.buildAuthorizationUrl(await discover(), {
        redirect_uri: settings.redirectUri,
        scope: 'openid profile email',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      return { url: url.href, checks: { provider: settings.id, state, nonce, verifier } };
    },
    /**
     * Exchanges the code (signature, iss, aud, exp, nonce and PKCE checked by
     * openid-client against this provider's discovery document, so an id_token
     * issued by any other provider is refused) and provisions or updates the
     * user, keyed by (issuer, sub): the same `sub` at two providers is two users. Returns the user and
     * whether the provider asserted multi-factor authentication.
     */
    async finish(tenant: TenantId, callbackUrl: URL, checks: FederationChecks): Promise<{ user: AppUser; mfa: boolean }> {
      let claims: oidc.IDToken | undefined;
      try {
        const tokens = await oidc.authorizationCodeGrant(await discover(), callbackUrl, {
          pkceCodeVerifier: checks.verifier,
          expectedState: checks.state,
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        });
        claims = tokens.claims();
      } catch (err) {
        if (err instanceof HavenError) throw err;
        throw new HavenError('unauthenticated', 'AUTH_FEDERATION_FAILED', 'The external sign-in could not be verified', { cause: err });
      }
      if (!claims) throw new HavenError('unauthenticated', 'AUTH_FEDERATION_FAILED', 'The provider returned no id_token');
      const groups = claims[settings.rolesClaim];
      const roles = [...new Set((Array.isArray(groups) ? groups : [groups]).map((g) => settings.roleMap.get(String(g))).filter((r): r is string => r !== undefined))];
      if (roles.length === 0) throw new HavenError('forbidden', 'AUTH_FEDERATION_NO_ROLE', 'Your account at the identity provider grants no role in Haven');
      const username = typeof claims['preferred_username'] === 'string' ? claims['preferred_username'] : typeof claims['email'] === 'string' ? claims['email'] : claims.sub;
      const user = await deps.users.provisionFederated(tenant, { issuer: claims.iss, subject: claims.sub, username, roles, qualifier: settings.usernameQualifier });
      const amr = Array.isArray(claims.amr) ? claims.amr : [];
      return { user, mfa: amr.some((m) => MFA_AMR.has(String(m))) };
    },
  };
}

export type Federation = ReturnType<typeof createFederation>;
