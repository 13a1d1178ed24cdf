import type { Clock, TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import type { ClientRegistry, OAuthClient } from './clients.js';
import { oauthError } from './oauth-errors.js';
import { verifyPassword } from './passwords.js';
import { JWT_BEARER_ASSERTION, identifyClient, loadClient, recordJti, verifyAssertion } from './token-endpoint.js';

/** What a client presents at the token, introspection and revocation endpoints. */
export interface ClientCredentialsInput {
  form: Record<string, string | undefined>;
  /** The Authorization header (client_secret_basic). */
  authorization?: string;
  /** The endpoint URL: a private_key_jwt assertion must name it (or the token URL) as aud. */
  audiences: string[];
}

export interface ClientAuthDeps {
  db: Queryable;
  clients: ClientRegistry;
  clock: Clock;
  limits: { skew: number; maxLifetime: number };
}

/** RFC 6749 §2.3.1: client_id and secret are form-urlencoded before Basic encoding. */
function parseBasic(header: string): { clientId: string; secret: string } {
  const m = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  const decoded = m?.[1] ? Buffer.from(m[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  if (colon < 1) throw oauthError('invalid_client', 'The Authorization header must be Basic client_id:client_secret');
  try {
    return { clientId: decodeURIComponent(decoded.slice(0, colon)), secret: decodeURIComponent(decoded.slice(colon + 1)) };
  } catch {
    throw oauthError('invalid_client', 'The Basic credentials are not correctly encoded');
  }
}

async function bySecret(deps: ClientAuthDeps, tenant: TenantId, input: ClientCredentialsInput): Promise<OAuthClient> {
  const { clientId, secret } = parseBasic(input.authorization!);
  if (input.form['client_id'] !== undefined && input.form['client_id'] !== clientId) {
    throw oauthError('invalid_client', 'client_id does not match the Basic credentials');
  }
  const client = await loadClient(deps.clients, tenant, clientId);
  if (client.authMethod !== 'client_secret_basic' || !client.secretHash || !(await verifyPassword(secret, client.secretHash))) {
    throw oauthError('invalid_client', 'Client authentication failed');
  }
  return client;
}

async function byAssertion(deps: ClientAuthDeps, tenant: TenantId, input: ClientCredentialsInput): Promise<OAuthClient> {
  const assertion = input.form['client_assertion']!;
  if (input.form['client_assertion_type'] !== JWT_BEARER_ASSERTION) {
    throw oauthError('invalid_client', `client_assertion_type must be ${JWT_BEARER_ASSERTION}`);
  }
  const clientId = identifyClient(assertion, input.form['client_id']);
  const client = await loadClient(deps.clients, tenant, clientId);
  if (client.authMethod !== 'private_key_jwt') throw oauthError('invalid_client', 'This client does not authenticate with private_key_jwt');
  const now = deps.clock.now();
  let lastError: unknown;
  for (const aud of input.audiences) {
    try {
      const verified = await verifyAssertion(client, assertion, aud, now, deps.limits);
      await recordJti(deps.db, tenant, clientId, verified, now);
      return client;
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

/**
 * Authenticates the calling client by the method it was registered with:
 * client_secret_basic, private_key_jwt, or none (public clients, which only
 * name themselves; PKCE binds their codes). A confidential client cannot
 * downgrade to `none`.
 */
export async function authenticateClient(deps: ClientAuthDeps, tenant: TenantId, input: ClientCredentialsInput): Promise<OAuthClient> {
  if (input.authorization?.trim()) return bySecret(deps, tenant, input);
  if (input.form['client_assertion']) return byAssertion(deps, tenant, input);
  const clientId = input.form['client_id'];
  if (!clientId) throw oauthError('invalid_client', 'Client authentication is required (client_id for public clients)');
  const client = await loadClient(deps.clients, tenant, clientId);
  if (client.authMethod !== 'none') throw oauthError('invalid_client', 'Client authentication failed');
  return client;
}
