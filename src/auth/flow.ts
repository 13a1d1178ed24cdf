import type { AuthEventName } from './auth-audit.js';
import { AuthorizeError, errorRedirect, validateAuthorizeRequest } from './authorize.js';
import type { PendingAuthorization } from './auth-requests.js';
import { finalScopes, grantableScopes, launchContextFor, needsPatientPicker, patientFor } from './consent.js';
import { createFederatedSteps } from './flow-federated.js';
import { errorPage, first, flowUrl } from './flow-types.js';
import type { Context, FlowCore, FlowDeps, FlowMeta, FlowResult, Form, Page, Step } from './flow-types.js';
import { safeEqual } from './secrets.js';
import { totpUri } from './totp.js';
import { mustPassMfa } from './users.js';
import type { AppUser } from './users.js';

export type { FlowDeps, FlowMeta, FlowResult, Form, Page } from './flow-types.js';

const GENERIC_LOGIN_ERROR = 'Sign-in failed. Check your username and password, or try again later.';

/**
 * The browser side of the authorization server as a state machine over a
 * server-side request: login → MFA (or enrolment) → patient choice → consent → code. Each
 * handler returns a redirect or a page model; HTML and cookies are the HTTP layer's.
 */
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

  const federations = deps.federations ?? [];
  const stepOf = (ctx: Context): Step => {
    const { user } = ctx;
    if (!user) return 'login';
    // Federated users do not enrol here: their provider asserts MFA, or they have a local authenticator (flow-federated.ts).
    if (mustPassMfa(user, ctx.mfaRequired === true) && !ctx.session.mfaDone) return user.hasTotp || user.federated ? 'mfa' : 'enrol';
    return needsPatientPicker(ctx.pending, user) ? 'patient' : 'consent';
  };

  /** The enrolment secret of this session, made on first sight; the offer of a new key is audited. */
  const enrolmentFor = async (ctx: Context, user: AppUser, meta?: FlowMeta) => {
    const offered = await deps.enrolments.current(tenant, ctx.session.idHash, user.userId, clock.now());
    if (offered.created) await event(meta ?? { requestId: 'flow-page' }, ctx, 'mfa-enrol', 'success', { outcomeCode: 'key-offered' });
    return offered.secret;
  };

  const pageFor = async (ctx: Context, error?: string, meta?: FlowMeta): Promise<Page> => {
    const base = {
      request: ctx.request,
      csrf: ctx.session.csrf,
      clientName: ctx.pending.clientName,
      ...(error ? { error } : {}),
      ...(federations.length > 0 ? { federation: federations.map((f) => ({ id: f.id, name: f.name })) } : {}),
    };
    const step = stepOf(ctx);
    const user = ctx.user!;
    switch (step) {
      case 'login':
        return { ...base, step, ...(federations.length > 0 ? { formTargets: federations.map((f) => f.origin) } : {}) };
      case 'mfa':
      case 'patient':
        return { ...base, step };
      case 'enrol': {
        const secret = await enrolmentFor(ctx, user, meta);
        return { ...base, step, username: user.username, secret, uri: totpUri(secret, user.username) };
      }
      case 'consent': {
        const patient = patientFor(ctx.pending, user);
        // Approve and deny both end in a redirect to the app.
        const formTargets = [new URL(ctx.pending.redirectUri).origin];
        return { ...base, step, username: user.username, scopes: grantableScopes(ctx.pending, user), formTargets, ...(patient ? { patient } : {}) };
      }
    }
  };
  const pageResult = async (ctx: Context, status: number, error?: string, meta?: FlowMeta): Promise<FlowResult> => ({ kind: 'page', page: await pageFor(ctx, error, meta), status });

  /** Loads the request, checks the form's CSRF token, and that the flow is at `step`. */
  const guard: FlowCore['guard'] = async (request, cookie, form, step) => {
    const ctx = await load(request, cookie);
    if (!ctx) return { fail: errorPage('This sign-in request has expired or belongs to another browser. Return to the app and start again.', 400) };
    if (form && !safeEqual(first(form, 'csrf'), ctx.session.csrf)) return { fail: errorPage('The form has expired. Go back and try again.', 403) };
    if (stepOf(ctx) !== step) return { fail: { kind: 'redirect', location: flowUrl(request) } };
    return { ctx };
  };

  const signIn: FlowCore['signIn'] = async (ctx, user, mfaDone) => {
    const next = await sessions.login(tenant, ctx.session, user.userId, mfaDone, clock.now());
    await requests.rebind(tenant, ctx.session.idHash, next.session.idHash);
    return { kind: 'redirect', location: flowUrl(ctx.request), cookie: next.id };
  };
  const federated = createFederatedSteps({ deps, load, event, guard, signIn });

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
    async show(request: string, cookie: string | undefined, meta?: FlowMeta): Promise<FlowResult> {
      const ctx = await load(request, cookie);
      if (!ctx) return errorPage('This sign-in request has expired or belongs to another browser. Return to the app and start again.', 400);
      return pageResult(ctx, 200, undefined, meta);
    },
    async login(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'login');
      if (!ctx) return fail;
      const user = await deps.login.password({ tenant, clientId: ctx.pending.clientId, ...meta }, first(form, 'username'), first(form, 'password'));
      if (!user) return pageResult(ctx, 401, GENERIC_LOGIN_ERROR);
      return signIn(ctx, user, false);
    },
    federatedStart: federated.start,
    federatedCallback: federated.callback,
    async mfa(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'mfa');
      if (!ctx) return fail;
      const loginMeta = { tenant, clientId: ctx.pending.clientId, ...meta };
      // The page has two forms: the authenticator code, or (phone lost) one of the recovery codes.
      const recovery = first(form, 'recovery');
      if (recovery !== '') {
        if (!(await deps.login.recovery(loginMeta, ctx.user!, recovery))) {
          return pageResult(ctx, 401, 'The recovery code was not accepted. Each code works once; check it and try another.');
        }
      } else if (!(await deps.login.totp(loginMeta, ctx.user!, first(form, 'code')))) {
        return pageResult(ctx, 401, 'The code was not accepted. Enter the current code from your authenticator app.');
      }
      await sessions.markMfaDone(tenant, ctx.session.idHash);
      return { kind: 'redirect', location: flowUrl(request) };
    },
    /**
     * Enrolment of a first authenticator by a user who must pass MFA and has
     * none: reachable only at that step (never for an account that has one),
     * the secret stored only after a valid code, and only if the account still
     * has none; then this session counts as having passed MFA.
     */
    async enrol(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'enrol');
      if (!ctx) return fail;
      const user = ctx.user!;
      const offered = await deps.enrolments.get(tenant, ctx.session.idHash, user.userId, clock.now());
      if (!offered) return pageResult(ctx, 400, 'The set-up key expired. Add the new key below to your authenticator app, then enter its code.', meta);
      const step = await deps.login.enrolmentCode({ tenant, clientId: ctx.pending.clientId, ...meta }, user, offered.secret, first(form, 'code'));
      if (step === undefined) return pageResult(ctx, 401, 'The code was not accepted. Check that the key was added correctly and enter the current code.', meta);
      // Audited before it takes effect (fail closed), like every other sign-in decision.
      await event(meta, ctx, 'mfa-enrol', 'success', { outcomeCode: 'enrolled' });
      const stored = await deps.users.enrolTotp(tenant, user.userId, offered.secret, step);
      await deps.enrolments.remove(tenant, ctx.session.idHash);
      if (!stored) {
        // Another session enrolled an authenticator meanwhile: that one stands, and this session must use it.
        await event(meta, ctx, 'mfa-enrol', 'failure', { outcomeCode: 'already-enrolled' });
        return { kind: 'redirect', location: flowUrl(request) };
      }
      await sessions.markMfaDone(tenant, ctx.session.idHash);
      // The recovery codes are shown once, on the answer to this post (no-store; a reload re-posts into a redirect).
      await event(meta, ctx, 'mfa-recovery-issued', 'success', { outcomeCode: 'at-enrolment' });
      const codes = await deps.recoveryCodes.issue(tenant, user.userId, clock.now());
      return { kind: 'page', status: 200, page: { step: 'recovery-codes', codes, clientName: ctx.pending.clientName, next: flowUrl(request) } };
    },
    async patient(request: string, cookie: string | undefined, form: Form, meta: FlowMeta): Promise<FlowResult> {
      const { ctx, fail } = await guard(request, cookie, form, 'patient');
      if (!ctx) return fail;
      const id = first(form, 'patient').trim().replace(/^Patient\//, '');
      if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id) || !(await deps.patientExists(id))) {
        return pageResult(ctx, 400, 'No patient with this id was found.');
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
