import { ID_TOKEN_ALGS } from '../auth/index.js';

/**
 * SMART App Launch 2 discovery document. It advertises exactly what exists:
 * backend services (client_credentials, private_key_jwt RS384/ES384) and the
 * authorization code flow (S256 PKCE only) for public and confidential apps.
 * Patient scopes include writes: they are served inside the token's patient
 * compartment (src/auth/guard-store.ts), so they are advertised too.
 */
export function smartConfiguration(baseUrl: string): object {
  const fhir = `${baseUrl}/fhir`;
  return {
    issuer: baseUrl,
    jwks_uri: `${baseUrl}/.well-known/jwks.json`,
    authorization_endpoint: `${baseUrl}/auth/authorize`,
    token_endpoint: `${baseUrl}/auth/token`,
    introspection_endpoint: `${baseUrl}/auth/introspect`,
    revocation_endpoint: `${baseUrl}/auth/revoke`,
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['private_key_jwt', 'client_secret_basic', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    id_token_signing_alg_values_supported: [...ID_TOKEN_ALGS],
    subject_types_supported: ['public'],
    scopes_supported: [
      'openid',
      'fhirUser',
      'launch',
      'launch/patient',
      'offline_access',
      'online_access',
      'patient/*.cruds',
      'patient/*.rs',
      'patient/*.read',
      'patient/*.write',
      'user/*.cruds',
      'user/*.read',
      'user/*.write',
      'system/*.cruds',
      'system/*.rs',
      'system/*.read',
      'system/*.write',
      'system/*.*',
    ],
    capabilities: [
      'launch-ehr',
      'launch-standalone',
      'authorize-post',
      'client-public',
      'client-confidential-symmetric',
      'client-confidential-asymmetric',
      'context-ehr-patient',
      'context-ehr-encounter',
      'context-standalone-patient',
      'context-banner',
      'sso-openid-connect',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
    ],
    fhir_base: fhir,
  };
}
