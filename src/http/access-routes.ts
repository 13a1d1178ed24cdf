import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthEventName } from '../auth/auth-audit.js';
import { isRoleName, parseRoleDefinition } from '../auth/index.js';
import type { RoleDefinition } from '../auth/index.js';
import { HavenError } from '../kernel/index.js';
import { body, minutesOf, param, reasonOf, requireAdmin, requireApprover, requireUser, startBreakGlass } from './access-common.js';
import type { AccessCoreDeps, Audit, Body, Who } from './access-common.js';
import { registerBreakGlassPage, type BreakGlassPageDeps } from './break-glass-page.js';

/**
 * Roles and policies (admin), break-glass and just-in-time elevation
 * (docs/security/identity.md). Every change is audited before it answers and
 * drops the cached access decisions of this node. A change whose audit entry
 * cannot be written is undone before the error is answered (fail closed): the
 * entry names what was done (ids known only once it is), and a change that
 * then fails (a decision lost to a concurrent one) must not be recorded as made.
 */
export interface AccessRoutesDeps extends AccessCoreDeps {
  /** The browser page for break-glass (signed-in session of the authorization server). */
  page?: BreakGlassPageDeps;
}

export function registerAccessRoutes(app: FastifyInstance, deps: AccessRoutesDeps): void {
  const { tenant } = deps;
  const audit = (req: FastifyRequest, w: Who, event: AuthEventName, outcomeCode?: string) =>
    deps.audit({ tenant, event, outcome: 'success', subject: w.subject, clientId: w.principal.clientId, kind: w.kind, requestId: req.id, sourceIp: req.ip, ...(outcomeCode ? { outcomeCode } : {}) });
  const noStore = { 'cache-control': 'no-store' };
  // This node's cached decisions are dropped once the change is audited (or undone), so users it has cached
  // do not get the change before its audit entry is durable. A user read fresh in that moment (here or on
  // another node) can see it briefly; the undo then takes it back within the usual 2 s.
  /** The previous definition of a role comes back (or the new role goes) when the change cannot be audited. */
  const restoreRole = async (name: string, previous: RoleDefinition | undefined, actor: string) => {
    if (previous) await deps.roles.put(tenant, previous, actor);
    else await deps.roles.remove(tenant, name);
    deps.resolver.invalidate();
  };

  app.get('/auth/admin/roles', async (req, reply) => {
    requireAdmin(req);
    return reply.headers(noStore).send({ roles: await deps.roles.list(tenant) });
  });
  app.get('/auth/admin/roles/:name', async (req, reply) => {
    requireAdmin(req);
    const role = await deps.roles.get(tenant, param(req, 'name'));
    if (!role) throw new HavenError('not-found', 'AUTH_ROLE_UNKNOWN', 'No such role');
    return reply.headers(noStore).send(role);
  });
  app.put('/auth/admin/roles/:name', async (req, reply) => {
    const w = requireAdmin(req);
    const role = parseRoleDefinition(param(req, 'name'), body(req), deps.checkCriteria);
    const previous = await deps.roles.get(tenant, role.name);
    const { created } = await deps.roles.put(tenant, role, w.subject);
    await undoUnaudited(audit(req, w, 'role-changed', role.name), () => restoreRole(role.name, previous, w.subject));
    deps.resolver.invalidate();
    return reply.code(created ? 201 : 200).headers(noStore).send(role);
  });
  app.delete('/auth/admin/roles/:name', async (req, reply) => {
    const w = requireAdmin(req);
    const name = param(req, 'name');
    const previous = await deps.roles.get(tenant, name);
    if (!previous || !(await deps.roles.remove(tenant, name))) throw new HavenError('not-found', 'AUTH_ROLE_UNKNOWN', 'No such role');
    await undoUnaudited(audit(req, w, 'role-changed', name), () => restoreRole(name, previous, w.subject));
    deps.resolver.invalidate();
    return reply.code(204).send();
  });

  registerBreakGlass(app, deps, audit);
  registerElevations(app, deps, audit);
  if (deps.page) registerBreakGlassPage(app, deps, deps.page, audit);
}

/** Waits for the audit entry of a change already made; if it cannot be written, undoes the change and fails with the audit error. */
async function undoUnaudited(audited: Promise<void>, undo: () => Promise<void>): Promise<void> {
  await audited.catch(async (err: unknown) => {
    await undo();
    throw err;
  });
}

function registerBreakGlass(app: FastifyInstance, deps: AccessRoutesDeps, audit: Audit): void {
  const { tenant } = deps;
  app.post('/auth/break-glass', async (req, reply) => {
    const w = requireUser(req);
    const b = body(req);
    const started = await startBreakGlass(deps, audit, req, w, reasonOf(b), minutesOf(b, deps.breakGlassMinutes, deps.breakGlassMinutes));
    return reply.code(201).header('cache-control', 'no-store').send(started);
  });
  app.get('/auth/admin/alerts', async (req, reply) => {
    requireApprover(req);
    const status = (req.query as Record<string, string | undefined>)['status'];
    if (status !== undefined && status !== 'open' && status !== 'all') throw badQuery('status takes open (the default) or all', 'status');
    const open = status !== 'all';
    return reply.header('cache-control', 'no-store').send({ alerts: await deps.elevations.alerts(tenant, open) });
  });
  app.post('/auth/admin/alerts/:id/review', async (req, reply) => {
    const w = requireApprover(req);
    const note = typeof body(req)['note'] === 'string' ? (body(req)['note'] as string).trim() : '';
    if (note.length === 0) throw new HavenError('incorrect', 'AUTH_REASON_REQUIRED', 'A review note is required', { expression: ['note'] });
    const alert = await deps.elevations.review(tenant, param(req, 'id'), w.subject, note.slice(0, 2000));
    await audit(req, w, 'alert-reviewed', alert.id);
    return reply.header('cache-control', 'no-store').send(alert);
  });
}

function registerElevations(app: FastifyInstance, deps: AccessRoutesDeps, audit: Audit): void {
  const { tenant } = deps;
  app.post('/auth/elevations', async (req, reply) => {
    const w = requireUser(req);
    // Only workforce users under role policies elevate (patients have no roles; without roles nothing is narrowed).
    if (!w.principal.access) throw new HavenError('forbidden', 'AUTH_USER_REQUIRED', 'Elevation is for workforce users of a tenant that defines roles');
    const b = body(req);
    const role = typeof b['role'] === 'string' ? b['role'] : '';
    if (!isRoleName(role) || !(await deps.roles.get(tenant, role))) throw new HavenError('incorrect', 'AUTH_ELEVATION_ROLE_UNKNOWN', 'No such role', { expression: ['role'] });
    const elevation = await deps.elevations.request(tenant, w.subject, role, minutesOf(b, deps.maxElevationMinutes, 60), reasonOf(b));
    await audit(req, w, 'elevation-requested', elevation.id);
    return reply.code(201).header('cache-control', 'no-store').send(elevation);
  });
  app.get('/auth/elevations', async (req, reply) => {
    requireApprover(req);
    const status = (req.query as Record<string, string | undefined>)['status'];
    if (status !== undefined && !ELEVATION_STATUSES.has(status)) throw badQuery(`status takes ${[...ELEVATION_STATUSES].join(', ')}`, 'status');
    return reply.header('cache-control', 'no-store').send({ elevations: await deps.elevations.list(tenant, status) });
  });
  for (const action of ['approve', 'deny'] as const) {
    app.post(`/auth/elevations/:id/${action}`, async (req, reply) => {
      const w = requireApprover(req);
      const id = param(req, 'id');
      const existing = await deps.elevations.get(tenant, id);
      if (!existing) throw new HavenError('not-found', 'AUTH_ELEVATION_UNKNOWN', 'No such elevation request');
      // Four eyes: nobody approves their own request.
      if (existing.userId === w.subject) throw new HavenError('forbidden', 'AUTH_SELF_APPROVAL', 'You cannot decide your own elevation request');
      const note = typeof (req.body as Body | undefined)?.['note'] === 'string' ? ((req.body as Body)['note'] as string).slice(0, 1000) : undefined;
      const decided = await deps.elevations.decide(tenant, id, action === 'approve', w.subject, note);
      await undoUnaudited(audit(req, w, action === 'approve' ? 'elevation-approved' : 'elevation-denied', decided.id), async () => {
        await deps.elevations.reopen(tenant, decided);
        deps.resolver.invalidate();
      });
      deps.resolver.invalidate();
      return reply.header('cache-control', 'no-store').send(decided);
    });
  }
}

const ELEVATION_STATUSES = new Set(['pending', 'approved', 'denied']);

/** A filter value the route does not know is refused: ignoring it would answer a different question. */
function badQuery(message: string, parameter: string): HavenError {
  return new HavenError('incorrect', 'AUTH_QUERY_INVALID', message, { expression: [parameter] });
}
