import type { TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import { hashSecret, newSecret } from './secrets.js';

/**
 * Server-side browser sessions of the authorization server. The cookie holds a
 * 256-bit random id; the database holds its SHA-256 only. Sessions end after
 * `idleMs` without a request (auto-logoff) and at `maxMs` after login whatever happens;
 * both can be set per tenant (tenant-settings.ts).
 */
export interface Session {
  idHash: string;
  userId?: string;
  mfaDone: boolean;
  /** Per-session CSRF token carried in every form. */
  csrf: string;
  expiresAt: Date;
}

export interface SessionPolicy {
  idleMs: number;
  maxMs: number;
}

/** Fixed time-outs, or the tenant's own (tenant-settings.ts), looked up at each use. */
export type SessionPolicySource = SessionPolicy | ((tenant: TenantId) => Promise<SessionPolicy>);

export interface SessionStore {
  /** A session with no user yet (it carries the CSRF token of the login form). */
  create(tenant: TenantId, now: Date): Promise<{ id: string; session: Session }>;
  /** The live session for a cookie value, touched; undefined when unknown, idle too long or past its absolute end. */
  load(tenant: TenantId, id: string, now: Date): Promise<Session | undefined>;
  /** Login: a new id replaces the old one (no session fixation); returns the new cookie value. */
  login(tenant: TenantId, old: Session, userId: string, mfaDone: boolean, now: Date): Promise<{ id: string; session: Session }>;
  markMfaDone(tenant: TenantId, idHash: string): Promise<void>;
  destroy(tenant: TenantId, idHash: string): Promise<void>;
  /** Ends every session of a user (and with them any enrolment in progress); returns how many. */
  destroyForUser(tenant: TenantId, userId: string): Promise<number>;
}

interface Row {
  id_hash: string;
  user_id: string | null;
  mfa_done: boolean;
  csrf: string;
  expires_at: Date;
  last_seen_at: Date;
}

const toSession = (r: Row): Session => ({
  idHash: r.id_hash,
  ...(r.user_id ? { userId: r.user_id } : {}),
  mfaDone: r.mfa_done,
  csrf: r.csrf,
  expiresAt: r.expires_at,
});

// A session that never logs in only needs to outlive one login form.
const ANONYMOUS_MS = 30 * 60_000;

export function createSessionStore(deps: { db: Queryable; policy: SessionPolicySource }): SessionStore {
  const { db } = deps;
  const policyOf = async (tenant: TenantId): Promise<SessionPolicy> => (typeof deps.policy === 'function' ? deps.policy(tenant) : deps.policy);
  const insert = async (tenant: TenantId, userId: string | null, mfaDone: boolean, now: Date, lifetimeMs: number) => {
    const id = newSecret();
    const res = await db.query<Row>(
      `INSERT INTO auth_session (tenant_id, id_hash, user_id, mfa_done, csrf, created_at, last_seen_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $6, $7) RETURNING id_hash, user_id, mfa_done, csrf, expires_at, last_seen_at`,
      [tenant, hashSecret(id), userId, mfaDone, newSecret(), now, new Date(now.getTime() + lifetimeMs)],
    );
    return { id, session: toSession(res.rows[0]!) };
  };
  return {
    create: async (tenant, now) => insert(tenant, null, false, now, Math.min(ANONYMOUS_MS, (await policyOf(tenant)).maxMs)),
    async load(tenant, id, now) {
      if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
      const policy = await policyOf(tenant);
      // The time-outs in force now apply to live sessions too: a tenant that shortens them logs idle users off at once.
      const res = await db.query<Row>(
        `UPDATE auth_session SET last_seen_at = $3
         WHERE tenant_id = $1 AND id_hash = $2 AND expires_at > $3 AND last_seen_at > $4 AND created_at > $5
         RETURNING id_hash, user_id, mfa_done, csrf, expires_at, last_seen_at`,
        [tenant, hashSecret(id), now, new Date(now.getTime() - policy.idleMs), new Date(now.getTime() - policy.maxMs)],
      );
      return res.rows[0] && toSession(res.rows[0]);
    },
    async login(tenant, old, userId, mfaDone, now) {
      await db.query('DELETE FROM auth_session WHERE tenant_id = $1 AND id_hash = $2', [tenant, old.idHash]);
      // Expired sessions are useless; removing them here keeps the table small without a job.
      await db.query('DELETE FROM auth_session WHERE tenant_id = $1 AND expires_at < $2', [tenant, now]);
      return insert(tenant, userId, mfaDone, now, (await policyOf(tenant)).maxMs);
    },
    async markMfaDone(tenant, idHash) {
      await db.query('UPDATE auth_session SET mfa_done = true WHERE tenant_id = $1 AND id_hash = $2', [tenant, idHash]);
    },
    async destroy(tenant, idHash) {
      await db.query('DELETE FROM auth_session WHERE tenant_id = $1 AND id_hash = $2', [tenant, idHash]);
    },
    async destroyForUser(tenant, userId) {
      return (await db.query('DELETE FROM auth_session WHERE tenant_id = $1 AND user_id = $2', [tenant, userId])).rowCount ?? 0;
    },
  };
}
