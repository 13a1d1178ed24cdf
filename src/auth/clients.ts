import { HavenError } from '../kernel/index.js';
import type { TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { parseScope, splitScopes } from './scopes.js';

/** How a client authenticates at the token endpoint. `none`: public client (PKCE only). */
export type ClientAuthMethod = 'none' | 'client_secret_basic' | 'private_key_jwt';

/** A registered client (Backend Services or SMART app). jwks holds public keys only. */
export interface OAuthClient {
  tenant: TenantId;
  clientId: string;
  name: string;
  jwks: { keys: PublicJwk[] };
  authMethod: ClientAuthMethod;
  /** Exact redirect URIs (authorization code flow); empty for Backend Services clients. */
  redirectUris: string[];
  /** scrypt hash of the client secret (client_secret_basic). */
  secretHash?: string;
  /** Scopes the client may be granted. */
  scopes: string[];
  isAdmin: boolean;
  disabled: boolean;
  createdAt: Date;
}

/** A public JSON Web Key as registered; validated to carry no private members. */
export type PublicJwk = Record<string, unknown> & { kty: string; kid?: string; alg?: string };

export interface RegisterClientInput {
  clientId: string;
  name: string;
  /** Required for private_key_jwt (the default). */
  jwks?: unknown;
  scopes: string | string[];
  isAdmin?: boolean;
  authMethod?: ClientAuthMethod;
  redirectUris?: string[];
  /** Already hashed (see passwords.ts): the registry never sees the secret. */
  secretHash?: string;
}

export interface ClientRegistry {
  register(tenant: TenantId, input: RegisterClientInput): Promise<OAuthClient>;
  get(tenant: TenantId, clientId: string): Promise<OAuthClient | undefined>;
  list(tenant: TenantId): Promise<OAuthClient[]>;
  /** Replace the client's keys (key rotation). */
  replaceJwks(tenant: TenantId, clientId: string, jwks: unknown): Promise<void>;
  setDisabled(tenant: TenantId, clientId: string, disabled: boolean): Promise<void>;
}

const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;
const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];
const supportedKty = new Set(['RSA', 'EC']);
/** Client-assertion algorithms SMART Backend Services requires servers to support. */
export const CLIENT_ASSERTION_ALGS = ['RS384', 'ES384'] as const;

function invalid(message: string, field: string): HavenError {
  return new HavenError('incorrect', 'OAUTH_CLIENT_INVALID', message, { expression: [field] });
}

/** Check a JWKS is `{ keys: [...] }` of RSA/EC public keys; private key material is refused. */
export function validatePublicJwks(jwks: unknown): { keys: PublicJwk[] } {
  const keys = (jwks as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw invalid('jwks must be {"keys": [...]} with at least one key', 'jwks');
  return {
    keys: keys.map((k: unknown, i) => {
      const key = k as PublicJwk | null;
      const where = `jwks.keys[${i}]`;
      if (!key || typeof key !== 'object' || !supportedKty.has(key.kty)) throw invalid(`${where}: kty must be RSA or EC`, where);
      if (privateMembers.some((m) => m in key)) throw invalid(`${where}: private key material must not be registered`, where);
      if (key.alg !== undefined && !(CLIENT_ASSERTION_ALGS as readonly unknown[]).includes(key.alg)) {
        throw invalid(`${where}: alg must be one of ${CLIENT_ASSERTION_ALGS.join(', ')}`, where);
      }
      return key;
    }),
  };
}

function validateScopes(scopes: string | string[]): string[] {
  const list = typeof scopes === 'string' ? splitScopes(scopes) : [...new Set(scopes)];
  if (list.length === 0) throw invalid('At least one allowed scope is required', 'scopes');
  // `launch/patient` and `launch/encounter` are the only slash-scopes that are not resource scopes.
  const bad = list.filter((s) => /\s/.test(s) || (s.includes('/') && !parseScope(s) && !/^launch\/[a-z]+$/.test(s)));
  if (bad.length > 0) throw invalid(`Malformed scope: ${bad.join(' ')}`, 'scopes');
  return list;
}

/** Absolute https URIs (http only for loopback, RFC 8252), no fragment: compared by exact string match. */
export function validateRedirectUris(uris: string[]): string[] {
  return uris.map((raw, i) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw invalid(`redirectUris[${i}] is not an absolute URI`, `redirectUris[${i}]`);
    }
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
    if (url.hash || !(url.protocol === 'https:' || (url.protocol === 'http:' && loopback))) {
      throw invalid(`redirectUris[${i}] must be https (http only on loopback) without a fragment`, `redirectUris[${i}]`);
    }
    return raw;
  });
}

interface ClientRow {
  tenant_id: string;
  client_id: string;
  name: string;
  jwks: { keys: PublicJwk[] };
  scopes: string;
  is_admin: boolean;
  disabled: boolean;
  created_at: Date;
  auth_method: ClientAuthMethod;
  redirect_uris: string[];
  secret_hash: string | null;
}

function toClient(r: ClientRow): OAuthClient {
  return {
    tenant: r.tenant_id as TenantId,
    clientId: r.client_id,
    name: r.name,
    jwks: r.jwks,
    authMethod: r.auth_method,
    redirectUris: r.redirect_uris,
    ...(r.secret_hash ? { secretHash: r.secret_hash } : {}),
    scopes: splitScopes(r.scopes),
    isAdmin: r.is_admin,
    disabled: r.disabled,
    createdAt: r.created_at,
  };
}

const columns = 'tenant_id, client_id, name, jwks, scopes, is_admin, disabled, created_at, auth_method, redirect_uris, secret_hash';

function requireUpdated(count: number | null, clientId: string): void {
  if (!count) throw new HavenError('not-found', 'OAUTH_CLIENT_NOT_FOUND', `No client ${clientId}`);
}

export function createClientRegistry({ db }: { db: Queryable }): ClientRegistry {
  return {
    async register(tenant, input) {
      if (!CLIENT_ID_PATTERN.test(input.clientId)) throw invalid('client_id must match [A-Za-z0-9._~-]{1,128}', 'clientId');
      if (!input.name.trim()) throw invalid('name is required', 'name');
      const authMethod = input.authMethod ?? 'private_key_jwt';
      const jwks = authMethod === 'private_key_jwt' ? validatePublicJwks(input.jwks) : { keys: [] };
      const scopes = validateScopes(input.scopes);
      const redirectUris = validateRedirectUris(input.redirectUris ?? []);
      if (authMethod === 'client_secret_basic' && !input.secretHash) throw invalid('client_secret_basic needs a secret', 'secret');
      const res = await db.query<ClientRow>(
        `INSERT INTO oauth_client (tenant_id, client_id, name, jwks, scopes, is_admin, auth_method, redirect_uris, secret_hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, client_id) DO NOTHING RETURNING ${columns}`,
        [tenant, input.clientId, input.name, JSON.stringify(jwks), scopes.join(' '), input.isAdmin ?? false, authMethod, redirectUris, input.secretHash ?? null],
      );
      const row = res.rows[0];
      if (!row) throw new HavenError('conflict', 'OAUTH_CLIENT_EXISTS', `Client ${input.clientId} already exists`);
      return toClient(row);
    },
    async get(tenant, clientId) {
      const res = await db.query<ClientRow>(`SELECT ${columns} FROM oauth_client WHERE tenant_id = $1 AND client_id = $2`, [
        tenant,
        clientId,
      ]);
      return res.rows[0] && toClient(res.rows[0]);
    },
    async list(tenant) {
      const res = await db.query<ClientRow>(`SELECT ${columns} FROM oauth_client WHERE tenant_id = $1 ORDER BY client_id`, [tenant]);
      return res.rows.map(toClient);
    },
    async replaceJwks(tenant, clientId, jwks) {
      const valid = validatePublicJwks(jwks);
      const res = await db.query('UPDATE oauth_client SET jwks = $3 WHERE tenant_id = $1 AND client_id = $2', [
        tenant,
        clientId,
        JSON.stringify(valid),
      ]);
      requireUpdated(res.rowCount, clientId);
    },
    async setDisabled(tenant, clientId, disabled) {
      const res = await db.query('UPDATE oauth_client SET disabled = $3 WHERE tenant_id = $1 AND client_id = $2', [
        tenant,
        clientId,
        disabled,
      ]);
      requireUpdated(res.rowCount, clientId);
    },
  };
}
