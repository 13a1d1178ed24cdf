import type { FastifyRequest } from 'fastify';
import type { AuthAuditor, AuthEventName } from '../auth/auth-audit.js';
import type { AccessResolver, ElevationStore, PolicyPrincipal, RoleStore } from '../auth/index.js';
import { HavenError, type Logger, type TenantId } from '../kernel/index.js';

/** Shared by the access API (access-routes.ts) and the break-glass page: callers, bodies, the break-glass start. */
export interface AccessCoreDeps {
  tenant: TenantId;
  logger: Logger;
  roles: RoleStore;
  elevations: ElevationStore;
  resolver: AccessResolver;
  audit: AuthAuditor;
  checkCriteria(type: string, pairs: Array<readonly [string, string]>): void;
  /** Longest break-glass grant and elevation, in minutes. */
  breakGlassMinutes: number;
  maxElevationMinutes: number;
}

export type Body = Record<string, unknown>;
export type Who = { subject: string; kind: 'user' | 'client'; principal: PolicyPrincipal & { isAdmin?: boolean } };

export function who(req: FastifyRequest): Who {
  const principal = req.havenCtx?.principal as (PolicyPrincipal & { isAdmin?: boolean }) | undefined;
  if (!principal) throw new HavenError('unauthenticated', 'AUTH_TOKEN_MISSING', 'A bearer token is required');
  return { subject: principal.subject, kind: principal.kind === 'user' ? 'user' : 'client', principal };
}

export function requireAdmin(req: FastifyRequest): Who {
  const w = who(req);
  if (w.principal.isAdmin !== true) throw new HavenError('forbidden', 'AUTH_ADMIN_REQUIRED', 'This endpoint needs an admin client token');
  return w;
}

/** Admin clients, or workforce users holding an approver role. */
export function requireApprover(req: FastifyRequest): Who {
  const w = who(req);
  if (w.principal.isAdmin === true || w.principal.access?.approver === true) return w;
  throw new HavenError('forbidden', 'AUTH_APPROVER_REQUIRED', 'This endpoint needs an approver role or an admin client token');
}

export function requireUser(req: FastifyRequest): Who {
  const w = who(req);
  if (w.kind !== 'user') throw new HavenError('forbidden', 'AUTH_USER_REQUIRED', 'This endpoint needs a user token');
  return w;
}

export function body(req: FastifyRequest): Body {
  if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) throw new HavenError('incorrect', 'AUTH_ADMIN_BAD_BODY', 'The body must be a JSON object');
  return req.body as Body;
}

export function reasonOf(b: Body): string {
  const reason = typeof b['reason'] === 'string' ? b['reason'].trim() : '';
  if (reason.length < 8 || reason.length > 1000) throw new HavenError('incorrect', 'AUTH_REASON_REQUIRED', 'A reason of 8 to 1000 characters is required', { expression: ['reason'] });
  return reason;
}

export function minutesOf(b: Body, max: number, fallback: number): number {
  const m = b['minutes'] ?? fallback;
  if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > max) {
    throw new HavenError('incorrect', 'AUTH_ADMIN_BAD_BODY', `minutes must be an integer from 1 to ${max}`, { expression: ['minutes'] });
  }
  return m;
}

export const param = (req: FastifyRequest, k: string) => (req.params as Record<string, string>)[k] ?? '';

export type Audit = (req: FastifyRequest, w: Who, event: AuthEventName, outcomeCode?: string) => Promise<void>;

/**
 * Starts break-glass for a user allowed to (API and page alike). The alert is raised before access
 * widens: alert row with the grant, audit entry, then the high-severity log line operators page on.
 * No audit entry, no access: the grant is withdrawn when the entry cannot be written.
 */
export async function startBreakGlass(deps: AccessCoreDeps, audit: Audit, req: FastifyRequest, w: Who, reason: string, minutes: number) {
  const { tenant } = deps;
  if (w.principal.access?.canBreakGlass !== true) throw new HavenError('forbidden', 'AUTH_BREAK_GLASS_NOT_ALLOWED', 'None of your roles allows break-glass access');
  const grant = await deps.elevations.startBreakGlass(tenant, w.subject, reason, minutes);
  await audit(req, w, 'break-glass', grant.id).catch(async (err: unknown) => {
    await deps.elevations.endBreakGlass(tenant, grant.id);
    throw err;
  });
  deps.logger.error({ alert: 'break-glass', severity: 'high', tenant, user: w.subject, grant: grant.id, alertId: grant.alertId, expiresAt: grant.expiresAt.toISOString() }, 'SECURITY ALERT: break-glass access started');
  deps.resolver.invalidate();
  return { id: grant.id, expiresAt: grant.expiresAt.toISOString(), purposeOfUse: 'ETREAT', alert: grant.alertId };
}

