export { createSigningKeyStore } from './signing-keys.js';
export type {
  ActiveSigningKey,
  PublicJwks,
  SigningAlg,
  SigningKeyStore,
  SigningKeyStoreOptions,
  VerificationKey,
} from './signing-keys.js';
export { CLIENT_ASSERTION_ALGS, createClientRegistry, validatePublicJwks } from './clients.js';
export type { ClientRegistry, OAuthClient, PublicJwk, RegisterClientInput } from './clients.js';
export { createTokenEndpoint, JWT_BEARER_ASSERTION } from './token-endpoint.js';
export type { IssueTokenOptions, TokenEndpoint, TokenEndpointOptions, TokenResponse } from './token-endpoint.js';
export { isOAuthError, oauthError, oauthErrorBody, oauthErrorStatus, oauthErrors } from './oauth-errors.js';
export type { OAuthErrorBody, OAuthErrorCode } from './oauth-errors.js';
export { ACCESS_TOKEN_TYP } from './access-token.js';
export type { AccessTokenClaims } from './access-token.js';
export { createTokenVerifier } from './verify-token.js';
export type { TokenVerifier, TokenVerifierOptions, VerifiedPrincipal } from './verify-token.js';
export {
  allowedResourceTypes,
  grantingScopes,
  grantScopes,
  parseScope,
  parseScopes,
  requireScope,
  scopeAllows,
  scopeAllowsAllTypes,
  scopeAllowsAny,
  scopeCovers,
} from './scopes.js';
export type { Interaction, ParsedScope, Permission, ScopeContext } from './scopes.js';
export { BOOTSTRAP_CLIENT_ID, BOOTSTRAP_SCOPES, ensureBootstrapClient, TOKEN_URL_PLACEHOLDER } from './bootstrap.js';
export type { BootstrapFile, BootstrapOptions, BootstrapResult } from './bootstrap.js';
export { createClientAssertion } from './client-assertion.js';
export type { ClientAssertionOptions } from './client-assertion.js';
export { createIdentity } from './identity.js';
export { parseRoleMap } from './federation.js';
export type { Identity, IdentityDeps, IdentitySettings } from './identity.js';
export { accessFor, createCompartmentGuard, hasGranular, limitedToCompartment, scopeFilters } from './patient-access.js';
export type { Access, CompartmentGuard, FilterMatcher, ScopeFilters } from './patient-access.js';
export { attachPatientWriteGuard, guardSearchForPatients, guardStoreForPatients, guardSystemSearchForScopes } from './guard-store.js';
export { hashPassword, verifyPassword } from './passwords.js';
export { currentTotp } from './totp.js';
export { pkceChallenge } from './secrets.js';
/** id_token signing algorithms (OpenID Connect requires RS256). */
export const ID_TOKEN_ALGS = ['RS256'] as const;
export { parseRoleDefinition, isRoleName, POLICY_INTERACTIONS } from './access-policy.js';
export type { AccessPolicy, PolicyInteraction, ResolvedPolicy, RoleDefinition } from './access-policy.js';
export { createRoleStore } from './role-store.js';
export type { RoleStore } from './role-store.js';
export { createElevationStore } from './elevations.js';
export type { Elevation, ElevationStore, SecurityAlert } from './elevations.js';
export { createAccessResolver } from './access-resolver.js';
export type { AccessResolver, EffectiveAccess, PolicyPrincipal } from './access-resolver.js';
export { hiddenElements, maskJson, policyAccess, policyDenied, requirePolicy, restrictionFor } from './access-enforce.js';
export type { CompartmentParams, Restriction } from './access-enforce.js';
export { createPolicyGuard } from './policy-guard.js';
export type { PolicyGuard, PolicyMatcher } from './policy-guard.js';
