import type { TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import type { FederationChecks } from './federation.js';
import type { EhrLaunch } from './launch.js';
import { newSecret } from './secrets.js';

/** A validated authorization request, kept server-side while the user logs in and consents. */
export interface PendingAuthorization {
  clientId: string;
  clientName: string;
  redirectUri: string;
  /** Requested scopes already narrowed to what the client may be granted. */
  scopes: string[];
  state?: string;
  codeChallenge: string;
  nonce?: string;
  /** EHR launch context (from `launch`). */
  launch?: EhrLaunch;
  /** Patient chosen in the picker (standalone launch by a workforce user). */
  selectedPatient?: string;
  /** Provider, state, nonce and PKCE verifier of a sign-in at an external OpenID provider. */
  federation?: FederationChecks;
}

const REQUEST_TTL_MS = 30 * 60_000;

/** Pending requests are bound to the browser session that started them: another browser cannot finish one. */
export function createAuthRequestStore(deps: { db: Queryable }) {
  const { db } = deps;
  return {
    async save(tenant: TenantId, sessionHash: string, params: PendingAuthorization, now: Date): Promise<string> {
      const id = newSecret();
      await db.query('INSERT INTO auth_request (tenant_id, id, session_hash, params, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        tenant,
        id,
        sessionHash,
        JSON.stringify(params),
        new Date(now.getTime() + REQUEST_TTL_MS),
      ]);
      return id;
    },
    async get(tenant: TenantId, id: string, sessionHash: string, now: Date): Promise<PendingAuthorization | undefined> {
      const res = await db.query<{ params: PendingAuthorization }>(
        'SELECT params FROM auth_request WHERE tenant_id = $1 AND id = $2 AND session_hash = $3 AND expires_at > $4',
        [tenant, id, sessionHash, now],
      );
      return res.rows[0]?.params;
    },
    async update(tenant: TenantId, id: string, params: PendingAuthorization): Promise<void> {
      await db.query('UPDATE auth_request SET params = $3 WHERE tenant_id = $1 AND id = $2', [tenant, id, JSON.stringify(params)]);
    },
    /** After login the session id changes; the requests started before follow it. */
    async rebind(tenant: TenantId, oldHash: string, newHash: string): Promise<void> {
      await db.query('UPDATE auth_request SET session_hash = $3 WHERE tenant_id = $1 AND session_hash = $2', [tenant, oldHash, newHash]);
    },
    async remove(tenant: TenantId, id: string, now: Date): Promise<void> {
      await db.query('DELETE FROM auth_request WHERE tenant_id = $1 AND (id = $2 OR expires_at < $3)', [tenant, id, now]);
    },
  };
}

export type AuthRequestStore = ReturnType<typeof createAuthRequestStore>;
