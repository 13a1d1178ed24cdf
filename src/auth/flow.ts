import { isHavenError } from '../kernel/index.js';
import type { Clock, TenantId } from '../kernel/index.js';
import type { AuthAuditor, AuthEventName } from './auth-audit.js';
import type { AuthRequestStore, PendingAuthorization } from './auth-requests.js';
import { AuthorizeError, errorRedirect, validateAuthorizeRequest } from './authorize.js';
import type { AuthorizeDeps } from './authorize.js';
import { finalScopes, grantableScopes, launchContextFor, needsPatientPicker, patientFor } from './consent.js';
import type { GrantStore } from './grants.js';
import type { Federation } from './federation.js';
import type { Login } from './login.js';
import { newSecret, safeEqual } from './secrets.js';
import type { Session, SessionStore } from './sessions.js';
import { isAdminRole } from './users.js';
import type { AppUser, UserStore } from './users.js';

/**
 * The browser side of the authorization server as a state machine over a
 * server-side request: login → MFA → patient choice → consent → code. Each
 * handler returns a redirect or a page model; HTML and cookies are the HTTP layer's.
 */
export interface FlowDeps {
  tenant: TenantId;
  clock: Clock;
  fhirBase: string;
  sessions: SessionStore;
  requests: AuthRequestStore;
  users: UserStore;
  login: Login;
  grants: GrantStore;
  authorize: AuthorizeDeps;
  audit: AuthAuditor;
  patientExists(id: string): Promise<boolean>;
  /** The tenant requires MFA of every user, not only of admin roles (tenant-settings.ts); absent: admins only. */
  mfaRequired?(): Promise<boolean>;
  /** Lifetime of an offline_access grant (refresh tokens). */
  offlineLifetimeMs: number;
  accessTokenTtlSeconds: number;
  /** External OpenID provider, when configured. */
  federation?: Federation;
}

export interface FlowMeta {
  requestId: string;
  sourceIp?: string;
}

interface PageBase {
  request: string;
  csrf: string;
  clientName: string;
  error?: string;
  /** Label of the external sign-in button, when federation is configured. */
  federation?: string;
  /** Origins this page's forms end up at after a redirect (the page's CSP form-action must allow them). */
  formTargets?: string[];
}
export type Page =
  | (PageBase & { step: 'login' | 'mfa' | 'patient' })
  | (PageBase & { step: 'consent'; username: string; scopes: string[]; patient?: string })
  | { step: 'error'; message: string };

export type FlowResult = { kind: 'redirect'; location: string; cookie?: string } | { kind: 'page'; page: Page; status: number; cookie?: string };
export type Form = Record<string, string[] | undefined>;

interface Context {
  session: Session;
  pending: PendingAuthorization;
  user?: AppUser;
  request: string;
  /** The tenant requires MFA of every user (read when a user is signed in). */
  mfaRequired?: boolean;
}

const GENERIC_LOGIN_ERROR = 'Sign-in failed. Check your username and password, or try again later.';
const flowUrl = (request: string) => `/auth/flow?request=${encodeURIComponent(request)}`;
const errorPage = (message: string, status: number): FlowResult => ({ kind: 'page', page: { step: 'error', message }, status });
const first = (form: Form, name: string) => form[name]?.[0] ?? '';

export function createFlow(deps: FlowDeps) {
  const { tenant, clock, sessions, requests } = deps;
  const event = (meta: FlowMeta, ctx: Context, name: AuthEventName, outcome: 'success' | 'failure', extra: { outcomeCode?: string; patient?: string } = {}) =>
    deps.audit({ tenant, event: name, outcome, subject: ctx.user?.userId ?? 'anonymous', clientId: ctx.pending.clientId, kind: 'user', requestId: meta.requestId, ...(meta.sourceIp ? { sourceIp: meta.sourceIp } : {}), ...extra });

  const load = async (request: string, cookie: string | undefined): Promise<Context | undefined> => {
    const now = clock.now();
    const session = cookie ? await sessions.load(tenant, cookie, now) : undefined;
    const pending = session && (await requests.get(tenant, request, session.idHash, now));
    if (!session || !pending) return undefined;
    const user = session.userId ? await deps.users.get(tenant, session.userId) : undefined;
    if (!user || user.disabled) return { session, pending, request };
    return { session, pending, request, user, mfaRequired: (await deps.mfaRequired?.()) ?? false };
  };

  const pageFor = (ctx: Context, error?: string): Page => {
    const base = {
      request: ctx.request,
      csrf: ctx.session.csrf,
      clientName: ctx.pending.clientName,
      ...(error ? { error } : {}),
      ...(deps.federation ? { federation: deps.federation.name } : {}),
    };
    const { user } = ctx;
    if (!user) return { ...base, step: 'login', ...(deps.federation ? { formTargets: [deps.federation.origin] } : {}) };
    if ((deps.login.needsMfa(user) || ctx.mfaRequired === true) && !ctx.session.mfaDone) return { ...base, step: 'mfa' };
    if (needsPatientPicker(ctx.pending, user)) return { ...base, step: 'patient' };
    const patient = patientFor(ctx.pending, user);
    // Approve and deny both end in a redirect to the app.
    const formTargets = [new URL(ctx.pending.redirectUri).origin];
    return { ...base, step: 'consent', username: user.username, scopes: grantableScopes(ctx.pending, user), formTargets, ...(patient ? { patient } : {}) };
  };

  /** Loads the request, checks the form's CSRF token, and that the flow is at `step`. */
  const guard = async (request: string, cookie: string | undefined, form: Form | undefined, step: Page['step']) => {
    const ctx = await load(request, cookie);
    if (!ctx) return { fail: errorPage('This sign-in request has expired or belongs to another browser. Return to the app and start again.', 400) };
    if (form && !safeEqual(first(form, 'csrf'), ctx.session.csrf)) return { fail: errorPage('The form has expired. Go back and try again.', 403) };
    if (pageFor(ctx).step !== step) return { fail: { kind: 'redirect', location: flowUrl(request) } as FlowResult };
    return { ctx };
  };

  const issueCode = async (ctx: Context, user: AppUser, form: Form, meta: FlowMeta): Promise<FlowResult> => {
    const now = clock.now();
    const scopes = finalScopes(ctx.pending, user, { approved: new Set(form['scope'] ?? []) });
    const context = launchContextFor(ctx.pending, user, deps.fhirBase, Math.floor(now.getTime() / 1000));
    const grantExpiresAt = scopes.includes('offline_access')
      ? new Date(now.getTime() + deps.offlineLifetimeMs)
      : scopes.includes('online_access')
        ? ctx.session.expiresAt
        : new Date(now.getTime() + 60_000 + deps.accessTokenTtlSeconds * 1000); // the code's minute, then one access token
    const { code } = await deps.grants.issueCode(tenant, { clientId: ctx.pending.clientId, userId: user.userId, scopes, context, redirectUri: ctx.pending.redirectUri, codeChallenge: ctx.pending.codeChallenge, grantExpiresAt }, now);
    const patient = context.patient ? { patient: `Patient/${context.patient}` } : {};
    await event(meta, ctx, 'consent', 'success', { outcomeCode: scopes.join(' ').slice(0, 512), ...patient });
    await event(meta, ctx, 'code-issued', 'success', patient);
    await requests.remove(tenant, ctx.request, now);
    const url = new URL(ctx.pending.redirectUri);
    url.searchParams.set('code', code);
    if (ctx.pending.state !== undefined) url.searchParams.set('state', ctx.pending.state);
    return { kind: 'redirect', location: url.toString() };
  };

  return {
    async start(query: Record<string, string | undefined>, cookie: string | undefined): Promise<FlowResult> {
      const now = clock.now();
      let pending: PendingAuthorization;
      try {
        pending = await validateAuthorizeRequest(deps.authorize, tenant, query, now);
      } catch (err) {
        if (!(err instanceof AuthorizeError)) throw err;
        const location = errorRedirect(err);
        return location ? { kind: 'redirect', location } : errorPage(`This sign-in link is not valid: ${err.description}.`, 400);
      }
      const existing = cookie ? await sessions.load(tenant, cookie, now) : undefined;
      const created = existing ? undefined : await sessions.create(tenant, now);
      const session = existing ?? created!.session;
      const request = await requests.save(tenant, session.idHash, pending, now);
      return { kind: 'redirect', location: flowUrl(request), ...(created ? { cookie: created.id } : {}) };
    },
    async show(request: string, cookie: string | undefined): Promise<FlowResult> {
      const ctx = await load(request, cookie);
      if (!ctx) return errorPage('This sign-in request has expired or belongs to another browser. Return to the app and start again.', 400);
      return { kind: 'page', page: pageFor(ctx), status: 200 };
    },
    async login(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'login');
      if (!ctx) return fail;
      const user = await deps.login.password({ tenant, clientId: ctx.pending.clientId, ...meta }, first(form, 'username'), first(form, 'password'));
      if (!user) return { kind: 'page', page: pageFor(ctx, GENERIC_LOGIN_ERROR), status: 401 };
      const next = await sessions.login(tenant, ctx.session, user.userId, false, clock.now());
      await requests.rebind(tenant, ctx.session.idHash, next.session.idHash);
      return { kind: 'redirect', location: flowUrl(request), cookie: next.id };
    },
    /** Sends the browser to the external provider; state carries the request id, bound to this session. */
    async federatedStart(request: string, cookie: string | undefined, form: Form): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'login');
      if (!ctx) return fail;
      if (!deps.federation) return errorPage('External sign-in is not configured.', 404);
      const { url, checks } = await deps.federation.start(`${request}~${newSecret()}`);
      await requests.update(tenant, request, { ...ctx.pending, federation: checks });
      return { kind: 'redirect', location: url };
    },
    async federatedCallback(callbackUrl: URL, cookie: string | undefined, meta: FlowMeta): Promise<FlowResult> {
      const state = callbackUrl.searchParams.get('state') ?? '';
      const request = state.split('~')[0]!;
      const ctx = await load(request, cookie);
      const checks = ctx?.pending.federation;
      if (!ctx || !checks || !deps.federation || !safeEqual(state, checks.state)) return errorPage('This sign-in response does not belong to a sign-in started in this browser.', 400);
      await requests.update(tenant, request, { ...ctx.pending, federation: undefined } as PendingAuthorization);
      let result: Awaited<ReturnType<Federation['finish']>>;
      try {
        result = await deps.federation.finish(tenant, callbackUrl, checks);
      } catch (err) {
        if (!isHavenError(err) || err.category === 'unavailable' || err.category === 'fault') throw err;
        await event(meta, ctx, 'login', 'failure', { outcomeCode: err.code });
        return errorPage(`${err.message}.`, err.category === 'forbidden' ? 403 : 401);
      }
      const { user, mfa } = result;
      const audited = { ...ctx, user };
      // Admin roles, and everyone where the tenant requires it, need MFA: asserted by the provider (amr) or a local authenticator.
      const admin = user.roles.some(isAdminRole);
      if ((admin || (await deps.mfaRequired?.()) === true) && !mfa && !user.hasTotp) {
        await event(meta, audited, 'login', 'failure', { outcomeCode: 'federated-no-mfa' });
        return errorPage(`Your identity provider did not confirm multi-factor authentication, which ${admin ? 'your role' : 'your organisation'} requires.`, 403);
      }
      await event(meta, audited, 'login', 'success', { outcomeCode: mfa ? 'federated-mfa' : 'federated' });
      const next = await sessions.login(tenant, ctx.session, user.userId, mfa, clock.now());
      await requests.rebind(tenant, ctx.session.idHash, next.session.idHash);
      return { kind: 'redirect', location: flowUrl(request), cookie: next.id };
    },
    async mfa(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'mfa');
      if (!ctx) return fail;
      if (!(await deps.login.totp({ tenant, clientId: ctx.pending.clientId, ...meta }, ctx.user!, first(form, 'code')))) {
        return { kind: 'page', page: pageFor(ctx, 'The code was not accepted. Enter the current code from your authenticator app.'), status: 401 };
      }
      await sessions.markMfaDone(tenant, ctx.session.idHash);
      return { kind: 'redirect', location: flowUrl(request) };
    },
    async patient(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'patient');
      if (!ctx) return fail;
      const id = first(form, 'patient').trim().replace(/^Patient\//, '');
      if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id) || !(await deps.patientExists(id))) {
        return { kind: 'page', page: pageFor(ctx, 'No patient with this id was found.'), status: 400 };
      }
      await requests.update(tenant, request, { ...ctx.pending, selectedPatient: id });
      await event(meta, ctx, 'patient-selected', 'success', { patient: `Patient/${id}` });
      return { kind: 'redirect', location: flowUrl(request) };
    },
    async consent(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'consent');
      if (!ctx) return fail;
      if (first(form, 'decision') !== 'approve') {
        await event(meta, ctx, 'consent', 'failure', { outcomeCode: 'denied' });
        await requests.remove(tenant, request, clock.now());
        return { kind: 'redirect', location: errorRedirect(new AuthorizeError('access_denied', 'The user denied the request', ctx.pending.redirectUri, ctx.pending.state))! };
      }
      return issueCode(ctx, ctx.user!, form, meta);
    },
    /** Needs the session's CSRF token, so another site cannot sign the user out. */
    async logout(cookie: string | undefined, csrf: string, meta: FlowMeta): Promise<void> {
      const session = cookie ? await sessions.load(tenant, cookie, clock.now()) : undefined;
      if (!session || !safeEqual(csrf, session.csrf)) return;
      await sessions.destroy(tenant, session.idHash);
      if (session.userId) await deps.audit({ tenant, event: 'logout', outcome: 'success', subject: session.userId, clientId: 'haven', kind: 'user', requestId: meta.requestId, ...(meta.sourceIp ? { sourceIp: meta.sourceIp } : {}) });
    },
  };
}

export type Flow = ReturnType<typeof createFlow>;
