import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthAuditor, AuthEventName } from '../auth/auth-audit.js';
import type { ClientAuthMethod, ClientRegistry } from '../auth/clients.js';
import { parseFhirContext } from '../auth/fhir-context.js';
import type { GrantStore } from '../auth/grants.js';
import type { LaunchStore } from '../auth/launch.js';
import { hashPassword } from '../auth/passwords.js';
import type { RecoveryCodeStore } from '../auth/recovery-codes.js';
import { newSecret } from '../auth/secrets.js';
import { parseSettingsPatch, type TenantSettingsStore } from '../auth/tenant-settings.js';
import type { SessionStore } from '../auth/sessions.js';
import { parseWorkforceFhirUser, type UserStore } from '../auth/users.js';
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
  /** Ends a user's sign-in sessions when their authenticator is reset or the account disabled. */
  sessions: Pick<SessionStore, 'destroyForUser'>;
  /** Revokes a user's grants (refresh and access tokens) at the same moments. */
  grants: Pick<GrantStore, 'revokeUser'>;
  /** Recovery codes: issued with an authenticator made at user creation. */
  recoveryCodes: Pick<RecoveryCodeStore, 'issue'>;
  /**
   * Whether `Practitioner/{id}` or `PractitionerRole/{id}` exists (not deleted) in the tenant: a workforce user
   * is linked only to a resource that resolves, so a mistyped id is refused here, not at a relying party.
   */
  fhirUserExists(type: 'Practitioner' | 'PractitionerRole', id: string): Promise<boolean>;
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

/** The `fhirUser` member of a request: absent, or a link to a Practitioner/PractitionerRole that exists in the tenant. */
async function checkedFhirUser(deps: AuthAdminDeps, value: unknown): Promise<string | undefined> {
  if (value === undefined) return undefined;
  const { type, id } = parseWorkforceFhirUser(value);
  if (!(await deps.fhirUserExists(type, id))) {
    throw new HavenError('incorrect', 'AUTH_USER_INVALID', `fhirUser ${type}/${id} does not exist on this server: create the ${type} first`, { expression: ['fhirUser'] });
  }
  return `${type}/${id}`;
}

export function registerAuthAdminRoutes(app: FastifyInstance, deps: AuthAdminDeps): void {
  const audit = (req: FastifyRequest, actor: string, event: AuthEventName, patient?: string, fhirUser?: string) =>
    deps.audit({ tenant: deps.tenant, event, outcome: 'success', subject: actor, clientId: actor, kind: 'client', requestId: req.id, sourceIp: req.ip, ...(patient ? { patient } : {}), ...(fhirUser ? { outcomeCode: `fhirUser=${fhirUser}` } : {}) });

  app.post('/auth/admin/users', async (req, reply) => {
    const actor = requireAdmin(req);
    const b = body(req);
    const patient = str(b, 'patient');
    if (patient !== undefined && b['fhirUser'] !== undefined) {
      throw new HavenError('incorrect', 'AUTH_USER_INVALID', 'a patient-plane user is its Patient: fhirUser (Practitioner/PractitionerRole) is for workforce users only', { expression: ['fhirUser'] });
    }
    const fhirUser = await checkedFhirUser(deps, b['fhirUser']);
    const { user, totpUri } = await deps.users.create(deps.tenant, {
      username: str(b, 'username') ?? '',
      password: str(b, 'password') ?? '',
      roles: strs(b, 'roles') ?? [],
      ...(patient ? { patient } : {}),
      ...(fhirUser ? { fhirUser } : {}),
      totp: b['totp'] === true,
    });
    await audit(req, actor, 'user-created', user.patient, user.patient ? undefined : user.fhirUser);
    // An authenticator made here comes with its recovery codes, answered once beside the otpauth:// URI.
    let recoveryCodes: string[] | undefined;
    if (totpUri) {
      await deps.audit({ tenant: deps.tenant, event: 'mfa-recovery-issued', outcome: 'success', outcomeCode: `user=${user.userId} at-creation`, subject: actor, clientId: actor, kind: 'client', requestId: req.id, sourceIp: req.ip });
      recoveryCodes = await deps.recoveryCodes.issue(deps.tenant, user.userId, deps.clock.now());
    }
    const { passwordHash: _hash, ...visible } = user;
    return reply.code(201).header('Cache-Control', 'no-store').send({ ...visible, ...(totpUri ? { totpUri, recoveryCodes } : {}) });
  });

  /**
   * Removes a user's TOTP authenticator (lost or replaced phone) with its
   * recovery codes and ends their sign-in sessions: at the next sign-in, after the password, they enrol a
   * new one. `{user}` is the user id, or else the username.
   */
  const target = async (req: FastifyRequest) => {
    const key = (req.params as { user: string }).user;
    const user = (await deps.users.get(deps.tenant, key)) ?? (await deps.users.byUsername(deps.tenant, key));
    if (!user) throw new HavenError('not-found', 'AUTH_USER_UNKNOWN', 'No user with this id or username');
    return user;
  };
  /**
   * Whoever may have the account's second factor or password must not keep
   * using what they already hold: every sign-in session ends and every grant
   * is revoked, so refresh tokens stop working and access tokens are refused
   * at the next request (not only when they expire).
   */
  /** Records an admin action on one user before it takes effect; the entry names the user (and their patient). */
  const auditUserAction = (req: FastifyRequest, actor: string, user: { userId: string; patient?: string }, event: 'mfa-reset' | 'user-disabled' | 'user-enabled' | 'user-updated', detail = '') =>
    deps.audit({ tenant: deps.tenant, event, outcome: 'success', outcomeCode: `user=${user.userId}${detail}`, subject: actor, clientId: actor, kind: 'client', requestId: req.id, sourceIp: req.ip, ...(user.patient ? { patient: user.patient } : {}) });
  const cutOff = async (userId: string, reason: string) => ({
    sessionsEnded: await deps.sessions.destroyForUser(deps.tenant, userId),
    grantsRevoked: await deps.grants.revokeUser(deps.tenant, userId, reason, deps.clock.now()),
  });

  app.delete('/auth/admin/users/:user/totp', async (req, reply) => {
    const actor = requireAdmin(req);
    const user = await target(req);
    await auditUserAction(req, actor, user, 'mfa-reset', user.hasTotp ? '' : ' (had none)');
    await deps.users.resetTotp(deps.tenant, user.userId);
    const ended = await cutOff(user.userId, 'mfa-reset');
    return reply.header('Cache-Control', 'no-store').send({ userId: user.userId, username: user.username, hasTotp: false, ...ended });
  });

  /** Disables an account (leaver, suspected compromise): no sign-in, no session, no token of it works any more. */
  app.post('/auth/admin/users/:user/disable', async (req, reply) => {
    const actor = requireAdmin(req);
    const user = await target(req);
    await auditUserAction(req, actor, user, 'user-disabled');
    await deps.users.setDisabled(deps.tenant, user.userId, true);
    const ended = await cutOff(user.userId, 'user-disabled');
    return reply.header('Cache-Control', 'no-store').send({ userId: user.userId, username: user.username, disabled: true, ...ended });
  });
  /** Re-enables an account; nothing revoked comes back: the user signs in anew. */
  app.post('/auth/admin/users/:user/enable', async (req, reply) => {
    const actor = requireAdmin(req);
    const user = await target(req);
    await auditUserAction(req, actor, user, 'user-enabled');
    await deps.users.setDisabled(deps.tenant, user.userId, false);
    return reply.header('Cache-Control', 'no-store').send({ userId: user.userId, username: user.username, disabled: false });
  });

  /**
   * Updates a user. Only `fhirUser` can change so far: `{"fhirUser": "Practitioner/123"}` links a workforce user
   * to the FHIR resource they are (it must exist), `{"fhirUser": null}` unlinks. Patients keep their Patient.
   * A changed link revokes the user's grants: tokens and id_tokens issued under them name the old resource.
   */
  app.patch('/auth/admin/users/:user', async (req, reply) => {
    const actor = requireAdmin(req);
    const b = body(req);
    const unknown = Object.keys(b).filter((k) => k !== 'fhirUser');
    if (unknown.length > 0 || !('fhirUser' in b)) {
      throw new HavenError('incorrect', 'AUTH_USER_INVALID', `only fhirUser can be changed${unknown.length > 0 ? ` (not ${unknown.join(', ')})` : ''}`, { expression: unknown.length > 0 ? unknown : ['fhirUser'] });
    }
    const user = await target(req);
    if (user.plane !== 'workforce') {
      throw new HavenError('incorrect', 'AUTH_USER_INVALID', 'a patient-plane user is its Patient: fhirUser (Practitioner/PractitionerRole) is for workforce users only', { expression: ['fhirUser'] });
    }
    const fhirUser = b['fhirUser'] === null ? null : (await checkedFhirUser(deps, b['fhirUser']))!;
    const changed = (user.fhirUser ?? null) !== fhirUser;
    await auditUserAction(req, actor, user, 'user-updated', ` fhirUser=${fhirUser ?? 'none'}${changed ? '' : ' (unchanged)'}`);
    await deps.users.setFhirUser(deps.tenant, user.userId, fhirUser);
    const grantsRevoked = changed ? await deps.grants.revokeUser(deps.tenant, user.userId, 'fhir-user-changed', deps.clock.now()) : 0;
    return reply.header('Cache-Control', 'no-store').send({ userId: user.userId, username: user.username, ...(fhirUser ? { fhirUser } : {}), grantsRevoked });
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
