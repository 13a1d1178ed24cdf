import type { TenantId } from '../kernel/index.js';
import type { BodyCodec, Queryable } from '../store/index.js';
import { newTotpSecret } from './totp.js';

/**
 * The TOTP secret offered to a user at sign-in enrolment, before a code has
 * proved that their authenticator app holds it (table totp_enrolment). It is
 * bound to the half-signed-in session and the user, sealed like a stored
 * secret, and short-lived: an unfinished enrolment leaves nothing usable.
 */
export interface PendingEnrolment {
  secret: string;
  expiresAt: Date;
}

export interface TotpEnrolmentStore {
  /** The live pending secret of this session and user, or a new one (`created: true`) when there is none. */
  current(tenant: TenantId, sessionHash: string, userId: string, now: Date): Promise<PendingEnrolment & { created: boolean }>;
  /** The live pending secret, if any (never creates one). */
  get(tenant: TenantId, sessionHash: string, userId: string, now: Date): Promise<PendingEnrolment | undefined>;
  remove(tenant: TenantId, sessionHash: string): Promise<void>;
}

/** Long enough to find the phone and type a code; short enough that an abandoned page goes stale. */
export const ENROLMENT_TTL_MS = 10 * 60_000;

// Associated data: the session the secret was offered to, so a sealed value cannot be moved to another row.
const identity = (tenant: string, sessionHash: string) => ({ tenant, resourceType: 'haven-totp-enrolment', id: sessionHash, versionId: 1 });

export function createTotpEnrolmentStore(deps: { db: Queryable; codec: BodyCodec; ttlMs?: number }): TotpEnrolmentStore {
  const { db, codec } = deps;
  const ttl = deps.ttlMs ?? ENROLMENT_TTL_MS;
  const get = async (tenant: TenantId, sessionHash: string, userId: string, now: Date): Promise<PendingEnrolment | undefined> => {
    const res = await db.query<{ secret: Buffer; expires_at: Date }>(
      'SELECT secret, expires_at FROM totp_enrolment WHERE tenant_id = $1 AND session_hash = $2 AND user_id = $3 AND expires_at > $4',
      [tenant, sessionHash, userId, now],
    );
    const row = res.rows[0];
    return row && { secret: await codec.decode(identity(tenant, sessionHash), row.secret), expiresAt: row.expires_at };
  };
  return {
    get,
    async current(tenant, sessionHash, userId, now) {
      const live = await get(tenant, sessionHash, userId, now);
      if (live) return { ...live, created: false };
      const secret = newTotpSecret();
      const expiresAt = new Date(now.getTime() + ttl);
      // Replaces an expired offer (or one made to another user of this session, which a new login would have dropped anyway).
      await db.query(
        `INSERT INTO totp_enrolment (tenant_id, session_hash, user_id, secret, expires_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, session_hash) DO UPDATE SET user_id = EXCLUDED.user_id, secret = EXCLUDED.secret, expires_at = EXCLUDED.expires_at`,
        [tenant, sessionHash, userId, await codec.encode(identity(tenant, sessionHash), secret), expiresAt],
      );
      return { secret, expiresAt, created: true };
    },
    async remove(tenant, sessionHash) {
      await db.query('DELETE FROM totp_enrolment WHERE tenant_id = $1 AND session_hash = $2', [tenant, sessionHash]);
    },
  };
}
