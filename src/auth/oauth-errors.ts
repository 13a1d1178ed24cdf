import { HavenError, isHavenError } from '../kernel/index.js';

/**
 * OAuth 2.0 (RFC 6749 §5.2) error codes, each with its stable Haven code and
 * category. invalid_client is 'unauthenticated' (401); the rest are 'incorrect' (400).
 */
export const oauthErrors = {
  invalid_request: { code: 'OAUTH_INVALID_REQUEST', category: 'incorrect' },
  invalid_client: { code: 'OAUTH_INVALID_CLIENT', category: 'unauthenticated' },
  invalid_grant: { code: 'OAUTH_INVALID_GRANT', category: 'incorrect' },
  invalid_scope: { code: 'OAUTH_INVALID_SCOPE', category: 'incorrect' },
  unsupported_grant_type: { code: 'OAUTH_UNSUPPORTED_GRANT_TYPE', category: 'incorrect' },
} as const;

export type OAuthErrorCode = keyof typeof oauthErrors;

const byHavenCode = new Map<string, OAuthErrorCode>(
  Object.entries(oauthErrors).map(([error, v]) => [v.code, error as OAuthErrorCode]),
);

/** Build the HavenError for an OAuth error. The description is sent to the client: never put secrets in it. */
export function oauthError(error: OAuthErrorCode, description: string, cause?: unknown): HavenError {
  const { code, category } = oauthErrors[error];
  return new HavenError(category, code, description, cause === undefined ? {} : { cause });
}

/** True when err is one of the token endpoint's OAuth errors. */
export function isOAuthError(err: unknown): err is HavenError {
  return isHavenError(err) && byHavenCode.has(err.code);
}

export interface OAuthErrorBody {
  error: string;
  error_description: string;
}

/**
 * RFC 6749 JSON error body for the token endpoint. Anything that is not an
 * OAuth error is reported as a generic server_error and its message is not echoed.
 */
export function oauthErrorBody(err: unknown): OAuthErrorBody {
  if (isHavenError(err)) {
    const error = byHavenCode.get(err.code);
    if (error) return { error, error_description: err.message };
    if (err.category === 'unavailable') return { error: 'temporarily_unavailable', error_description: err.message };
  }
  return { error: 'server_error', error_description: 'The authorization server encountered an internal error' };
}

/** HTTP status for an oauthErrorBody: 401 for invalid_client, 503/500 for server-side trouble, else 400. */
export function oauthErrorStatus(err: unknown): number {
  const { error } = oauthErrorBody(err);
  if (error === 'invalid_client') return 401;
  if (error === 'temporarily_unavailable') return 503;
  if (error === 'server_error') return 500;
  return 400;
}
