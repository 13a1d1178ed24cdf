import { randomUUID } from 'node:crypto';
import { HavenError } from '../kernel/index.js';
import type { Clock, TenantId } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';

/**
 * Just-in-time elevation (role for a bounded time, approved by another user)
 * and break-glass (emergency access, alerted and reviewed). Rows only; who may
 * do what is decided by access-workflow.ts.
 */
export interface Elevation {
  id: string;
  userId: string;
  role: string;
  reason: string;
  minutes: number;
  status: 'pending' | 'approved' | 'denied';
  requestedAt: string;
  decidedBy?: string;
  decidedAt?: string;
  note?: string;
  expiresAt?: string;
}

export interface SecurityAlert {
  id: string;
  kind: string;
  severity: 'high' | 'medium' | 'low';
  userId: string;
  refId?: string;
  reason?: string;
  createdAt: string;
  reviewedBy?: string;
  reviewedAt?: string;
  reviewNote?: string;
}

type Row = Record<string, unknown>;
const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : undefined);
const opt = <K extends string>(k: K, v: unknown) => (v === null || v === undefined ? {} : { [k]: v instanceof Date ? v.toISOString() : v });

function toElevation(r: Row): Elevation {
  return {
    id: r['id'] as string, userId: r['user_id'] as string, role: r['role'] as string, reason: r['reason'] as string,
    minutes: r['minutes'] as number, status: r['status'] as Elevation['status'], requestedAt: iso(r['requested_at']) ?? '',
    ...opt('decidedBy', r['decided_by']), ...opt('decidedAt', r['decided_at']), ...opt('note', r['decision_note']), ...opt('expiresAt', r['expires_at']),
  };
}

function toAlert(r: Row): SecurityAlert {
  return {
    id: r['id'] as string, kind: r['kind'] as string, severity: r['severity'] as SecurityAlert['severity'], userId: r['user_id'] as string,
    createdAt: iso(r['created_at']) ?? '', ...opt('refId', r['ref_id']), ...opt('reason', r['reason']),
    ...opt('reviewedBy', r['reviewed_by']), ...opt('reviewedAt', r['reviewed_at']), ...opt('reviewNote', r['review_note']),
  };
}

export function createElevationStore(db: Queryable, clock: Clock) {
  return {
    async request(tenant: TenantId, userId: string, role: string, minutes: number, reason: string): Promise<Elevation> {
      const res = await db.query(
        `INSERT INTO role_elevation (tenant_id, id, user_id, role, reason, minutes, status, requested_at) VALUES ($1,$2,$3,$4,$5,$6,'pending',$7) RETURNING *`,
        [tenant, randomUUID(), userId, role, reason, minutes, clock.now()],
      );
      return toElevation(res.rows[0]!);
    },
    async get(tenant: TenantId, id: string): Promise<Elevation | undefined> {
      const res = await db.query('SELECT * FROM role_elevation WHERE tenant_id = $1 AND id = $2', [tenant, id]);
      return res.rows[0] ? toElevation(res.rows[0]) : undefined;
    },
    async list(tenant: TenantId, status?: string): Promise<Elevation[]> {
      const res = await db.query('SELECT * FROM role_elevation WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY requested_at DESC LIMIT 500', [tenant, status ?? null]);
      return res.rows.map(toElevation);
    },
    /** Only a pending request can be decided, once (the WHERE makes concurrent decisions safe). */
    async decide(tenant: TenantId, id: string, approve: boolean, by: string, note: string | undefined): Promise<Elevation> {
      const now = clock.now();
      const res = await db.query(
        `UPDATE role_elevation SET status = $3, decided_by = $4, decided_at = $5, decision_note = $6,
           expires_at = CASE WHEN $3 = 'approved' THEN $5::timestamptz + make_interval(mins => minutes) END
         WHERE tenant_id = $1 AND id = $2 AND status = 'pending' RETURNING *`,
        [tenant, id, approve ? 'approved' : 'denied', by, now, note ?? null],
      );
      if (!res.rows[0]) throw new HavenError('conflict', 'AUTH_ELEVATION_DECIDED', 'The elevation request is unknown or already decided');
      return toElevation(res.rows[0]);
    },
    /**
     * Takes back a decision whose audit entry could not be written: the request is pending again
     * (fail closed, as endBreakGlass). Only the decision this caller made is undone.
     */
    async reopen(tenant: TenantId, decided: Elevation): Promise<void> {
      await db.query(
        `UPDATE role_elevation SET status = 'pending', decided_by = NULL, decided_at = NULL, decision_note = NULL, expires_at = NULL
         WHERE tenant_id = $1 AND id = $2 AND status = $3 AND decided_by = $4 AND decided_at = $5`,
        [tenant, decided.id, decided.status, decided.decidedBy ?? null, decided.decidedAt ?? null],
      );
    },
    /** Approved, unexpired elevations of a user: role and expiry (epoch ms). */
    async active(tenant: TenantId, userId: string): Promise<Array<{ role: string; expiresAt: number }>> {
      const res = await db.query<{ role: string; expires_at: Date }>(
        `SELECT role, expires_at FROM role_elevation WHERE tenant_id = $1 AND user_id = $2 AND status = 'approved' AND expires_at > $3`,
        [tenant, userId, clock.now()],
      );
      return res.rows.map((r) => ({ role: r.role, expiresAt: r.expires_at.getTime() }));
    },
    async startBreakGlass(tenant: TenantId, userId: string, reason: string, minutes: number): Promise<{ id: string; expiresAt: Date; alertId: string }> {
      const id = randomUUID();
      const alertId = randomUUID();
      const now = clock.now();
      const expiresAt = new Date(now.getTime() + minutes * 60_000);
      // One statement: the grant never exists without its alert.
      await db.query(
        `WITH g AS (INSERT INTO break_glass (tenant_id, id, user_id, reason, started_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6))
         INSERT INTO security_alert (tenant_id, id, kind, severity, user_id, ref_id, reason, created_at) VALUES ($1,$7,'break-glass','high',$3,$2,$4,$5)`,
        [tenant, id, userId, reason, now, expiresAt, alertId],
      );
      return { id, expiresAt, alertId };
    },
    /** Withdraws a grant whose audit entry could not be written (the alert row stays, for review). */
    async endBreakGlass(tenant: TenantId, id: string): Promise<void> {
      await db.query('UPDATE break_glass SET expires_at = started_at WHERE tenant_id = $1 AND id = $2', [tenant, id]);
    },
    async activeBreakGlass(tenant: TenantId, userId: string): Promise<{ id: string; expiresAt: number } | undefined> {
      const res = await db.query<{ id: string; expires_at: Date }>(
        'SELECT id, expires_at FROM break_glass WHERE tenant_id = $1 AND user_id = $2 AND expires_at > $3 ORDER BY expires_at DESC LIMIT 1',
        [tenant, userId, clock.now()],
      );
      const r = res.rows[0];
      return r ? { id: r.id, expiresAt: r.expires_at.getTime() } : undefined;
    },
    async alerts(tenant: TenantId, open: boolean): Promise<SecurityAlert[]> {
      const res = await db.query(`SELECT * FROM security_alert WHERE tenant_id = $1 ${open ? 'AND reviewed_at IS NULL' : ''} ORDER BY created_at DESC LIMIT 500`, [tenant]);
      return res.rows.map(toAlert);
    },
    async review(tenant: TenantId, id: string, by: string, note: string): Promise<SecurityAlert> {
      const res = await db.query(
        'UPDATE security_alert SET reviewed_by = $3, reviewed_at = $4, review_note = $5 WHERE tenant_id = $1 AND id = $2 AND reviewed_at IS NULL RETURNING *',
        [tenant, id, by, clock.now(), note],
      );
      if (!res.rows[0]) throw new HavenError('conflict', 'AUTH_ALERT_REVIEWED', 'The alert is unknown or already reviewed');
      return toAlert(res.rows[0]);
    },
  };
}

export type ElevationStore = ReturnType<typeof createElevationStore>;
