import type { TenantId } from '../kernel/index.js';
import type { PendingAuthorization } from './auth-requests.js';
import type { ClientRegistry, OAuthClient } from './clients.js';
import type { LaunchStore } from './launch.js';
import { grantScopes, splitScopes } from './scopes.js';

/**
 * GET /auth/authorize, step by step (RFC 6749 §4.1.1, RFC 7636, SMART App
 * Launch 2). Until client and redirect_uri are known good, errors are shown to
 * the user and never redirected (an open redirector otherwise); after that they
 * go back to the client as `error=…&state=…`.
 */
export class AuthorizeError extends Error {
  constructor(
    readonly error: string,
    readonly description: string,
    /** Where to send the error; undefined: show it, do not redirect. */
    readonly redirectUri?: string,
    readonly state?: string,
  ) {
    super(description);
  }
}

export interface AuthorizeDeps {
  clients: ClientRegistry;
  launches: LaunchStore;
  /** FHIR base URL: `aud` must name it. */
  fhirBase: string;
}

type Query = Record<string, string | undefined>;

/** Step 1: a known, enabled client and one of its registered redirect URIs, compared as exact strings. */
export async function checkClientAndRedirect(deps: AuthorizeDeps, tenant: TenantId, q: Query): Promise<OAuthClient> {
  const clientId = q['client_id'];
  if (!clientId) throw new AuthorizeError('invalid_request', 'client_id is missing');
  const client = await deps.clients.get(tenant, clientId);
  if (!client || client.disabled || client.redirectUris.length === 0) throw new AuthorizeError('invalid_request', 'Unknown client');
  const redirect = q['redirect_uri'];
  if (!redirect || !client.redirectUris.includes(redirect)) {
    throw new AuthorizeError('invalid_request', 'redirect_uri is not registered for this client');
  }
  return client;
}

const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const STATE_MAX = 1024;

/** Step 2: the protocol parameters. */
function checkParameters(deps: AuthorizeDeps, q: Query, fail: (error: string, description: string) => AuthorizeError): void {
  if (q['response_type'] !== 'code') throw fail('unsupported_response_type', 'response_type must be code');
  if (q['code_challenge_method'] !== 'S256') throw fail('invalid_request', 'code_challenge_method must be S256 (plain is not accepted)');
  if (!q['code_challenge'] || !CHALLENGE.test(q['code_challenge'])) throw fail('invalid_request', 'code_challenge must be a base64url SHA-256 (43 characters)');
  const aud = (q['aud'] ?? '').replace(/\/$/, '');
  if (aud !== deps.fhirBase) throw fail('invalid_request', 'aud must be the FHIR base URL of this server');
  if ((q['state']?.length ?? 0) > STATE_MAX) throw fail('invalid_request', 'state is too long');
}

/** Step 3: scopes narrowed to what the client may have; system/ scopes are never granted to a user. */
function checkScopes(client: OAuthClient, q: Query, fail: (error: string, description: string) => AuthorizeError): string[] {
  const requested = splitScopes(q['scope'] ?? '').filter((s) => !s.startsWith('system/'));
  if (requested.length === 0) throw fail('invalid_scope', 'scope is required');
  const allowed = grantScopes(requested, client.scopes);
  if (allowed.length === 0) throw fail('invalid_scope', 'None of the requested scopes is allowed for this client');
  return allowed;
}

/** The validated request, with the EHR launch context resolved. */
export async function validateAuthorizeRequest(deps: AuthorizeDeps, tenant: TenantId, q: Query, now: Date): Promise<PendingAuthorization> {
  const client = await checkClientAndRedirect(deps, tenant, q);
  const redirectUri = q['redirect_uri']!;
  const state = q['state'];
  const fail = (error: string, description: string) => new AuthorizeError(error, description, redirectUri, state);
  checkParameters(deps, q, fail);
  const scopes = checkScopes(client, q, fail);
  const pending: PendingAuthorization = {
    clientId: client.clientId,
    clientName: client.name,
    redirectUri,
    scopes,
    codeChallenge: q['code_challenge']!,
    ...(state !== undefined ? { state } : {}),
    ...(q['nonce'] ? { nonce: q['nonce'].slice(0, 256) } : {}),
  };
  const launch = q['launch'];
  if (launch !== undefined) {
    const context = await deps.launches.resolve(tenant, launch, now);
    if (!context) throw fail('invalid_request', 'launch is unknown or has expired');
    return { ...pending, launch: context };
  }
  if (scopes.includes('launch')) throw fail('invalid_request', 'The launch scope needs a launch parameter (EHR launch)');
  return pending;
}

/** The redirect carrying an error back to the client (RFC 6749 §4.1.2.1). */
export function errorRedirect(err: AuthorizeError): string | undefined {
  if (!err.redirectUri) return undefined;
  const url = new URL(err.redirectUri);
  url.searchParams.set('error', err.error);
  url.searchParams.set('error_description', err.description);
  if (err.state !== undefined) url.searchParams.set('state', err.state);
  return url.toString();
}
