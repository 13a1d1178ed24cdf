import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthAuditor, AuthEventName } from '../auth/auth-audit.js';
import type { ClientAuthMethod, ClientRegistry } from '../auth/clients.js';
import { parseFhirContext } from '../auth/fhir-context.js';
import type { LaunchStore } from '../auth/launch.js';
import { hashPassword } from '../auth/passwords.js';
import { newSecret } from '../auth/secrets.js';
import { parseSettingsPatch, type TenantSettingsStore } from '../auth/tenant-settings.js';
import type { SessionStore } from '../auth/sessions.js';
import type { UserStore } from '../auth/users.js';
import { HavenError, type Clock, type TenantId } from '../kernel/index.js';

/**
 * Admin API of the authorization server (bearer token of an admin client):
 * register users, SMART app clients and EHR launch contexts. Secrets are
 * answered once and stored hashed.
 */
export interface AuthAdminDeps {
  tenant: TenantId;
  clock: Clock;
  users: UserStore;
  clients: ClientRegistry;
  launches: LaunchStore;
  audit: AuthAuditor;
  /** Ends a user's sign-in sessions when their authenticator is reset. */
  sessions: Pick<SessionStore, 'destroyForUser'>;
  /** Per-tenant overrides of server-wide defaults (session time-outs); absent: the routes are not offered. */
  settings?: TenantSettingsStore;
}

type Body = Record<string, unknown>;

function requireAdmin(req: FastifyRequest): string {
  const principal = req.havenCtx?.principal as { isAdmin?: boolean; subject?: string } | undefined;
  if (principal?.isAdmin !== true) throw new HavenError('forbidden', 'AUTH_ADMIN_REQUIRED', 'This endpoint needs an admin client token');
  return principal.subject ?? 'unknown';
}

function body(req: FastifyRequest): Body {
  if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
    throw new HavenError('incorrect', 'AUTH_ADMIN_BAD_BODY', 'The body must be a JSON object');
  }
  return req.body as Body;
}

const str = (b: Body, k: string) => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
const strs = (b: Body, k: string) => (Array.isArray(b[k]) && (b[k] as unknown[]).every((x) => typeof x === 'string') ? (b[k] as string[]) : undefined);

export function registerAuthAdminRoutes(app: FastifyInstance, deps: AuthAdminDeps): void {
  const audit = (req: FastifyRequest, actor: string, event: AuthEventName, patient?: string) =>
    deps.audit({ tenant: deps.tenant, event, outcome: 'success', subject: actor, clientId: actor, kind: 'client', requestId: req.id, sourceIp: req.ip, ...(patient ? { patient } : {}) });

  app.post('/auth/admin/users', async (req, reply) => {
    const actor = requireAdmin(req);
    const b = body(req);
    const patient = str(b, 'patient');
    const { user, totpUri } = await deps.users.create(deps.tenant, {
      username: str(b, 'username') ?? '',
      password: str(b, 'password') ?? '',
      roles: strs(b, 'roles') ?? [],
      ...(patient ? { patient } : {}),
      totp: b['totp'] === true,
    });
    await audit(req, actor, 'user-created', user.patient);
    const { passwordHash: _hash, ...visible } = user;
    return reply.code(201).header('Cache-Control', 'no-store').send({ ...visible, ...(totpUri ? { totpUri } : {}) });
  });

  /**
   * Removes a user's TOTP authenticator (lost or replaced phone) and ends their
   * sign-in sessions: at the next sign-in, after the password, they enrol a
   * new one. `{user}` is the user id, or else the username.
   */
  app.delete('/auth/admin/users/:user/totp', async (req, reply) => {
    const actor = requireAdmin(req);
    const key = (req.params as { user: string }).user;
    const user = (await deps.users.get(deps.tenant, key)) ?? (await deps.users.byUsername(deps.tenant, key));
    if (!user) throw new HavenError('not-found', 'AUTH_USER_UNKNOWN', 'No user with this id or username');
    // Audited before it takes effect; the entry names the user whose authenticator goes.
    await deps.audit({ tenant: deps.tenant, event: 'mfa-reset', outcome: 'success', outcomeCode: `user=${user.userId}${user.hasTotp ? '' : ' (had none)'}`, subject: actor, clientId: actor, kind: 'client', requestId: req.id, sourceIp: req.ip, ...(user.patient ? { patient: user.patient } : {}) });
    await deps.users.resetTotp(deps.tenant, user.userId);
    const sessionsEnded = await deps.sessions.destroyForUser(deps.tenant, user.userId);
    return reply.header('Cache-Control', 'no-store').send({ userId: user.userId, username: user.username, hasTotp: false, sessionsEnded });
  });

  app.post('/auth/admin/clients', async (req, reply) => {
    const actor = requireAdmin(req);
    const b = body(req);
    const authMethod = (str(b, 'authMethod') ?? 'none') as ClientAuthMethod;
    const secret = authMethod === 'client_secret_basic' ? newSecret() : undefined;
    const client = await deps.clients.register(deps.tenant, {
      clientId: str(b, 'clientId') ?? '',
      name: str(b, 'name') ?? '',
      scopes: strs(b, 'scopes') ?? str(b, 'scopes') ?? [],
      redirectUris: strs(b, 'redirectUris') ?? [],
      authMethod,
      ...(b['jwks'] !== undefined ? { jwks: b['jwks'] } : {}),
      ...(secret ? { secretHash: await hashPassword(secret) } : {}),
    });
    await audit(req, actor, 'client-registered');
    const { secretHash: _h, ...visible } = client;
    return reply.code(201).header('Cache-Control', 'no-store').send({ ...visible, ...(secret ? { clientSecret: secret } : {}) });
  });

  if (deps.settings) registerSettingsRoutes(app, deps.settings, deps);

  app.post('/auth/admin/launch', async (req, reply) => {
    const actor = requireAdmin(req);
    const b = body(req);
    const patient = str(b, 'patient');
    const encounter = str(b, 'encounter');
    let registered;
    try {
      const fhirContext = b['fhirContext'] === undefined ? undefined : parseFhirContext(b['fhirContext']);
      const context = { ...(patient ? { patient } : {}), ...(encounter ? { encounter } : {}), ...(fhirContext ? { fhirContext } : {}) };
      registered = await deps.launches.register(deps.tenant, context, actor, deps.clock.now());
    } catch (err) {
      throw new HavenError('incorrect', 'AUTH_LAUNCH_INVALID', err instanceof Error ? err.message : 'Invalid launch context');
    }
    await audit(req, actor, 'launch-registered', patient ? `Patient/${patient}` : undefined);
    return reply.code(201).header('Cache-Control', 'no-store').send({ launch: registered.launch, expiresAt: registered.expiresAt.toISOString() });
  });
}

/**
 * `GET /auth/admin/settings`: the values in force, the tenant's overrides and the defaults.
 * `PATCH /auth/admin/settings` `{"sessionIdleMinutes": 5, "sessionMaxHours": null}`: null returns to the default.
 */
function registerSettingsRoutes(app: FastifyInstance, settings: TenantSettingsStore, deps: AuthAdminDeps): void {
  app.get('/auth/admin/settings', async (req, reply) => {
    requireAdmin(req);
    return reply.header('Cache-Control', 'no-store').send(await settings.describe(deps.tenant));
  });
  app.patch('/auth/admin/settings', async (req, reply) => {
    const actor = requireAdmin(req);
    const patch = parseSettingsPatch(req.body);
    // Audited (with what changed) before it takes effect, like every other authorization-server decision.
    const outcomeCode = Object.entries(patch).map(([k, v]) => `${k}=${v ?? 'default'}`).join(' ');
    await deps.audit({ tenant: deps.tenant, event: 'settings-changed', outcome: 'success', outcomeCode, subject: actor, clientId: actor, kind: 'client', requestId: req.id, sourceIp: req.ip });
    await settings.update(deps.tenant, patch, actor);
    return reply.header('Cache-Control', 'no-store').send(await settings.describe(deps.tenant));
  });
}
