import type { TenantId } from '../kernel/index.js';
import type { AuthAuditor } from './auth-audit.js';
import { authenticateClient } from './client-auth.js';
import type { ClientAuthDeps } from './client-auth.js';
import type { FhirContextItem } from './fhir-context.js';
import type { GrantStore, LaunchContext } from './grants.js';
import { oauthError } from './oauth-errors.js';
import type { Revocations } from './revocations.js';
import type { TokenVerifier, VerifiedPrincipal } from './verify-token.js';

/** RFC 7662 introspection and RFC 7009 revocation, for access tokens (JWT) and refresh tokens (opaque). */
export interface TokenAdminDeps {
  clientAuth: ClientAuthDeps;
  verifier: TokenVerifier;
  grants: GrantStore;
  revocations: Revocations;
  audit: AuthAuditor;
  issuer: string;
}

export interface TokenAdminRequest {
  tenant: TenantId;
  form: Record<string, string | undefined>;
  authorization?: string;
  /** This endpoint's URL (private_key_jwt aud), besides the token URL. */
  endpointUrl: string;
  tokenUrl: string;
  requestId: string;
  sourceIp?: string;
}

/** SMART 2 launch context beyond patient and encounter, as the token response gave it. */
const fhirContextOf = (context: LaunchContext | undefined): { fhirContext?: FhirContextItem[] } =>
  context?.fhirContext?.length ? { fhirContext: context.fhirContext } : {};

const asAccessToken = async (deps: TokenAdminDeps, tenant: TenantId, token: string): Promise<VerifiedPrincipal | undefined> =>
  deps.verifier.verify(`Bearer ${token}`, tenant).catch(() => undefined);

export function createTokenAdmin(deps: TokenAdminDeps) {
  const now = () => deps.clientAuth.clock.now();
  const client = (req: TokenAdminRequest) =>
    authenticateClient(deps.clientAuth, req.tenant, {
      form: req.form,
      ...(req.authorization ? { authorization: req.authorization } : {}),
      audiences: [req.endpointUrl, req.tokenUrl],
    });

  return {
    async introspect(req: TokenAdminRequest): Promise<Record<string, unknown>> {
      const caller = await client(req);
      // Public clients hold no credential, so they may not probe tokens.
      if (caller.authMethod === 'none') throw oauthError('invalid_client', 'Introspection needs an authenticated (confidential) client');
      const token = req.form['token'];
      if (!token) throw oauthError('invalid_request', 'token is required');
      const p = await asAccessToken(deps, req.tenant, token);
      if (p) {
        // fhirContext is not a token claim (it can be long): it is read from the token's grant.
        const grant = p.grantId ? await deps.grants.grant(req.tenant, p.grantId) : undefined;
        return {
          active: true,
          scope: p.scopes.join(' '),
          client_id: p.clientId,
          sub: p.subject,
          exp: Math.floor(p.expiresAt / 1000),
          iss: deps.issuer,
          token_type: 'Bearer',
          ...(p.patient ? { patient: p.patient } : {}),
          ...(p.encounter ? { encounter: p.encounter } : {}),
          ...(p.fhirUser ? { fhirUser: p.fhirUser } : {}),
          ...fhirContextOf(grant?.context),
        };
      }
      const grant = await deps.grants.refreshGrant(req.tenant, token, now());
      if (!grant) return { active: false };
      return {
        active: true,
        scope: grant.scopes.join(' '),
        client_id: grant.clientId,
        sub: grant.userId,
        exp: Math.floor(grant.expiresAt.getTime() / 1000),
        iss: deps.issuer,
        token_type: 'refresh_token',
        ...(grant.context.patient ? { patient: grant.context.patient } : {}),
        ...(grant.context.encounter ? { encounter: grant.context.encounter } : {}),
        ...(grant.context.fhirUser ? { fhirUser: grant.context.fhirUser } : {}),
        ...fhirContextOf(grant.context),
      };
    },
    /** Always answers 200 for an unknown token (RFC 7009 §2.2); a token of another client is left alone. */
    async revoke(req: TokenAdminRequest): Promise<void> {
      const caller = await client(req);
      const token = req.form['token'];
      if (!token) throw oauthError('invalid_request', 'token is required');
      const at = now();
      const p = await asAccessToken(deps, req.tenant, token);
      let subject: string | undefined;
      if (p && p.clientId === caller.clientId) {
        await deps.revocations.revokeJti(deps.clientAuth.db, req.tenant, p.tokenId, new Date(p.expiresAt), at);
        subject = p.subject;
      } else {
        const grant = await deps.grants.refreshGrant(req.tenant, token, at);
        if (grant && grant.clientId === caller.clientId) {
          await deps.grants.revokeGrant(req.tenant, grant.grantId, 'revoked-by-client', at);
          subject = grant.userId;
        }
      }
      if (subject === undefined) return;
      await deps.audit({
        tenant: req.tenant,
        event: 'token-revoked',
        outcome: 'success',
        subject,
        clientId: caller.clientId,
        kind: subject === caller.clientId ? 'client' : 'user',
        requestId: req.requestId,
        ...(req.sourceIp ? { sourceIp: req.sourceIp } : {}),
      });
    },
  };
}

export type TokenAdmin = ReturnType<typeof createTokenAdmin>;
