import { randomUUID } from 'node:crypto';
import type { TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import type { FhirContextItem } from './fhir-context.js';
import type { Revocations } from './revocations.js';
import { hashSecret, newSecret } from './secrets.js';

/** Launch context carried by a grant and returned with its tokens. */
export interface LaunchContext {
  /** Patient id (no type prefix), as SMART's `patient` token parameter. */
  patient?: string;
  encounter?: string;
  /** SMART 2 fhirContext of an EHR launch, returned as is. */
  fhirContext?: FhirContextItem[];
  /** `Patient/x`, `Practitioner/y` or a user URL: the id_token's fhirUser. */
  fhirUser?: string;
  needPatientBanner?: boolean;
  smartStyleUrl?: string;
  nonce?: string;
  /** Epoch seconds of the login, for the id_token's auth_time. */
  authTime?: number;
}

export interface Grant {
  grantId: string;
  clientId: string;
  userId: string;
  scopes: string[];
  context: LaunchContext;
  expiresAt: Date;
  revokedAt?: Date;
}

export interface NewCode {
  clientId: string;
  userId: string;
  scopes: string[];
  context: LaunchContext;
  redirectUri: string;
  codeChallenge: string;
  /** End of the grant (refresh-token family). */
  grantExpiresAt: Date;
}

export type CodeRedemption =
  | { kind: 'ok'; grant: Grant; redirectUri: string; codeChallenge: string; clientId: string }
  | { kind: 'reused'; grantId: string }
  | { kind: 'invalid' };

export type RefreshRotation = { kind: 'ok'; grant: Grant } | { kind: 'reused'; grantId: string } | { kind: 'invalid' };

interface GrantRow {
  grant_id: string;
  client_id: string;
  user_id: string;
  scopes: string;
  context: LaunchContext;
  expires_at: Date;
  revoked_at: Date | null;
}

const toGrant = (r: GrantRow): Grant => ({
  grantId: r.grant_id,
  clientId: r.client_id,
  userId: r.user_id,
  scopes: r.scopes.split(' ').filter(Boolean),
  context: r.context,
  expiresAt: r.expires_at,
  ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}),
});

const CODE_TTL_MS = 60_000;
const SWEEP_INTERVAL_MS = 60_000;
// Used codes are kept a day after expiry so a late second use is still recognised as reuse.
const KEEP_USED_MS = 86_400_000;

/** Expired rows are useless; one pass a minute, piggybacked on issuing, keeps the tables small without a job. */
async function sweep(db: Queryable, now: Date): Promise<void> {
  const old = new Date(now.getTime() - KEEP_USED_MS);
  await db.query('DELETE FROM auth_code WHERE expires_at < $1', [old]);
  await db.query('DELETE FROM refresh_token WHERE expires_at < $1', [now]);
  await db.query('DELETE FROM oauth_grant WHERE expires_at < $1', [old]);
  await db.query('DELETE FROM revoked_token WHERE expires_at < $1', [now]);
  await db.query('DELETE FROM launch_context WHERE expires_at < $1', [now]);
}

/**
 * Authorization codes (single use, 60 s), grants and refresh tokens (rotated on
 * every use). A second use of a code or of a rotated refresh token means one of
 * the copies is stolen: the whole grant is revoked, with every token under it.
 */
export function createGrantStore(deps: { db: Queryable; revocations: Revocations }) {
  const { db, revocations } = deps;
  const grant = async (tenant: TenantId, grantId: string) => {
    const res = await db.query<GrantRow>(
      'SELECT grant_id, client_id, user_id, scopes, context, expires_at, revoked_at FROM oauth_grant WHERE tenant_id = $1 AND grant_id = $2',
      [tenant, grantId],
    );
    return res.rows[0] && toGrant(res.rows[0]);
  };
  const live = (g: Grant | undefined, now: Date): g is Grant => g !== undefined && !g.revokedAt && g.expiresAt > now;
  let lastSweep = 0;

  return {
    grant,
    async issueCode(tenant: TenantId, input: NewCode, now: Date): Promise<{ code: string; grantId: string }> {
      if (now.getTime() - lastSweep >= SWEEP_INTERVAL_MS) {
        lastSweep = now.getTime();
        await sweep(db, now);
      }
      const grantId = randomUUID();
      const code = newSecret();
      await db.query(
        `INSERT INTO oauth_grant (tenant_id, grant_id, client_id, user_id, scopes, context, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [tenant, grantId, input.clientId, input.userId, input.scopes.join(' '), JSON.stringify(input.context), now, input.grantExpiresAt],
      );
      await db.query(
        `INSERT INTO auth_code (tenant_id, code_hash, grant_id, client_id, redirect_uri, code_challenge, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [tenant, hashSecret(code), grantId, input.clientId, input.redirectUri, input.codeChallenge, new Date(now.getTime() + CODE_TTL_MS)],
      );
      return { code, grantId };
    },
    async redeemCode(tenant: TenantId, code: string, now: Date): Promise<CodeRedemption> {
      const hash = hashSecret(code);
      const used = await db.query<{ grant_id: string; redirect_uri: string; code_challenge: string; client_id: string }>(
        `UPDATE auth_code SET used_at = $3 WHERE tenant_id = $1 AND code_hash = $2 AND used_at IS NULL AND expires_at > $3
         RETURNING grant_id, redirect_uri, code_challenge, client_id`,
        [tenant, hash, now],
      );
      const row = used.rows[0];
      if (!row) {
        const seen = await db.query<{ grant_id: string }>(
          'SELECT grant_id FROM auth_code WHERE tenant_id = $1 AND code_hash = $2 AND used_at IS NOT NULL',
          [tenant, hash],
        );
        return seen.rows[0] ? { kind: 'reused', grantId: seen.rows[0].grant_id } : { kind: 'invalid' };
      }
      const g = await grant(tenant, row.grant_id);
      if (!live(g, now)) return { kind: 'invalid' };
      return { kind: 'ok', grant: g, redirectUri: row.redirect_uri, codeChallenge: row.code_challenge, clientId: row.client_id };
    },
    async issueRefresh(tenant: TenantId, grantId: string, now: Date, expiresAt: Date): Promise<string> {
      const token = newSecret();
      await db.query('INSERT INTO refresh_token (tenant_id, token_hash, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [
        tenant,
        hashSecret(token),
        grantId,
        now,
        expiresAt,
      ]);
      return token;
    },
    async rotateRefresh(tenant: TenantId, token: string, now: Date): Promise<RefreshRotation> {
      const hash = hashSecret(token);
      const res = await db.query<{ grant_id: string }>(
        `UPDATE refresh_token SET rotated_at = $3 WHERE tenant_id = $1 AND token_hash = $2 AND rotated_at IS NULL AND expires_at > $3
         RETURNING grant_id`,
        [tenant, hash, now],
      );
      const row = res.rows[0];
      if (!row) {
        const seen = await db.query<{ grant_id: string }>(
          'SELECT grant_id FROM refresh_token WHERE tenant_id = $1 AND token_hash = $2 AND rotated_at IS NOT NULL',
          [tenant, hash],
        );
        return seen.rows[0] ? { kind: 'reused', grantId: seen.rows[0].grant_id } : { kind: 'invalid' };
      }
      const g = await grant(tenant, row.grant_id);
      return live(g, now) ? { kind: 'ok', grant: g } : { kind: 'invalid' };
    },
    /** The grant a live refresh token belongs to (introspection, revocation), without rotating it. */
    async refreshGrant(tenant: TenantId, token: string, now: Date): Promise<Grant | undefined> {
      const res = await db.query<{ grant_id: string }>(
        'SELECT grant_id FROM refresh_token WHERE tenant_id = $1 AND token_hash = $2 AND rotated_at IS NULL AND expires_at > $3',
        [tenant, hashSecret(token), now],
      );
      const g = res.rows[0] && (await grant(tenant, res.rows[0].grant_id));
      return live(g, now) ? g : undefined;
    },
    revokeGrant: (tenant: TenantId, grantId: string, reason: string, now: Date) => revocations.revokeGrant(db, tenant, grantId, reason, now),
    /** Every grant of the user, with their refresh and access tokens (see Revocations.revokeUser). */
    revokeUser: (tenant: TenantId, userId: string, reason: string, now: Date) => revocations.revokeUser(db, tenant, userId, reason, now),
  };
}

export type GrantStore = ReturnType<typeof createGrantStore>;
