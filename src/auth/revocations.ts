import type { Clock, TenantId } from '../kernel/index.js';
import { systemClock } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';

/**
 * Which access tokens are revoked: by grant (a whole refresh-token family and
 * every access token issued under it) or by jti. Held in memory so the check
 * costs no query per request; revocations made on this node apply at once,
 * those made on other nodes within `pollMs` (the set is reloaded from the database).
 */
export interface Revocations {
  revokeGrant(db: Queryable, tenant: TenantId, grantId: string, reason: string, now: Date): Promise<void>;
  revokeJti(db: Queryable, tenant: TenantId, jti: string, expiresAt: Date, now: Date): Promise<void>;
  /**
   * Revokes every grant of a user (admin reset of their authenticator, account
   * disabled): all their refresh tokens, and the access tokens issued under
   * them, refused at once on this node. Returns how many grants were live.
   */
  revokeUser(db: Queryable, tenant: TenantId, userId: string, reason: string, now: Date): Promise<number>;
  isRevoked(tenant: TenantId, grantId: string | undefined, jti: string): Promise<boolean>;
}

// Rows revoked slightly before the last poll may commit after it: re-read a margin.
const OVERLAP_MS = 5_000;
// An access token can outlive its grant by up to its own lifetime (at most an hour).
const MAX_TOKEN_MS = 3_600_000;

export function createRevocations(deps: { db: Queryable; clock?: Clock; pollMs?: number }): Revocations {
  const { db, clock = systemClock, pollMs = 2_000 } = deps;
  const revoked = new Set<string>();
  let since: Date | undefined;
  let lastPoll = 0;
  let polling: Promise<void> | undefined;
  const key = (tenant: string, kind: 'g' | 'j', id: string) => `${tenant}\u0000${kind}\u0000${id}`;

  const poll = async (): Promise<void> => {
    const now = clock.now();
    const from = since ? new Date(since.getTime() - OVERLAP_MS) : new Date(0);
    const grants = await db.query<{ tenant_id: string; grant_id: string }>(
      'SELECT tenant_id, grant_id FROM oauth_grant WHERE revoked_at >= $1 AND expires_at > $2',
      [from, new Date(now.getTime() - MAX_TOKEN_MS)],
    );
    const jtis = await db.query<{ tenant_id: string; jti: string }>(
      'SELECT tenant_id, jti FROM revoked_token WHERE revoked_at >= $1 AND expires_at > $2',
      [from, now],
    );
    for (const r of grants.rows) revoked.add(key(r.tenant_id, 'g', r.grant_id));
    for (const r of jtis.rows) revoked.add(key(r.tenant_id, 'j', r.jti));
    since = now;
    lastPoll = now.getTime();
  };

  return {
    async revokeGrant(q, tenant, grantId, reason, now) {
      await q.query(
        'UPDATE oauth_grant SET revoked_at = $3, revoked_reason = $4 WHERE tenant_id = $1 AND grant_id = $2 AND revoked_at IS NULL',
        [tenant, grantId, now, reason],
      );
      revoked.add(key(tenant, 'g', grantId));
    },
    async revokeJti(q, tenant, jti, expiresAt, now) {
      await q.query(
        'INSERT INTO revoked_token (tenant_id, jti, revoked_at, expires_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING',
        [tenant, jti, now, expiresAt],
      );
      revoked.add(key(tenant, 'j', jti));
    },
    async revokeUser(q, tenant, userId, reason, now) {
      // Grants that ended over an hour ago carry no live token: left as they are.
      const res = await q.query<{ grant_id: string }>(
        `UPDATE oauth_grant SET revoked_at = $3, revoked_reason = $4
         WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $5 RETURNING grant_id`,
        [tenant, userId, now, reason, new Date(now.getTime() - MAX_TOKEN_MS)],
      );
      for (const r of res.rows) revoked.add(key(tenant, 'g', r.grant_id));
      return res.rows.length;
    },
    async isRevoked(tenant, grantId, jti) {
      if (clock.now().getTime() - lastPoll >= pollMs) {
        polling ??= poll().finally(() => (polling = undefined));
        await polling;
      }
      return revoked.has(key(tenant, 'j', jti)) || (grantId !== undefined && revoked.has(key(tenant, 'g', grantId)));
    },
  };
}
