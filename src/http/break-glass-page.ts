import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { safeEqual } from '../auth/secrets.js';
import type { Session, SessionStore } from '../auth/sessions.js';
import { mustPassMfa } from '../auth/users.js';
import { isHavenError, type Clock } from '../kernel/index.js';
import { reasonOf, startBreakGlass, type AccessCoreDeps, type Audit, type Who } from './access-common.js';
import { errorBox, esc, hidden, sendPage } from './auth-pages/html.js';

/**
 * Break-glass from the browser: a signed-in session of the authorization
 * server (after MFA when the user has it) opens the same time-boxed grant as
 * `POST /auth/break-glass`, with the same alert and audit. No script; CSRF
 * token of the session in the form; the page reveals nothing to anyone else.
 */
export interface BreakGlassPageDeps {
  sessions: SessionStore;
  users: { get(tenant: AccessCoreDeps['tenant'], userId: string): Promise<{ hasTotp: boolean; roles: string[]; disabled: boolean } | undefined> };
  /** The tenant requires MFA of every user (tenant-settings.ts); absent: admin roles and enrolled users only. */
  mfaRequired?(tenant: AccessCoreDeps['tenant']): Promise<boolean>;
  cookieName: string;
  clock: Clock;
  /** The path of HAVEN_BASE_URL ('' at the root): the form posts to it. */
  basePath?: string;
}

export const BREAK_GLASS_PAGE = '/auth/break-glass/page';

type Form = Record<string, string[] | undefined>;

function readCookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function formPage(session: Session, minutes: number, action: string, error?: string): string {
  return `<h1>Emergency access (break-glass)</h1>
<p>This lifts your role restrictions for ${minutes} minutes. A security alert is raised now, every access is
recorded as emergency treatment (ETREAT), and your reason is reviewed afterwards.</p>
${errorBox(error)}
<form method="post" action="${esc(action)}">
${hidden('csrf', session.csrf)}
<label for="reason">Reason (required)</label>
<textarea id="reason" name="reason" rows="4" cols="40" required minlength="8" maxlength="1000"${error ? ' aria-describedby="form-error" aria-invalid="true"' : ''}></textarea>
<button type="submit">Start emergency access</button>
</form>`;
}

export function registerBreakGlassPage(app: FastifyInstance, deps: AccessCoreDeps, page: BreakGlassPageDeps, audit: Audit): void {
  /** The signed-in user of the browser session, allowed to break glass; otherwise an answer page. */
  async function caller(req: FastifyRequest): Promise<{ session: Session; who: Who } | { status: number; message: string }> {
    const cookie = readCookie(req, page.cookieName);
    const session = cookie ? await page.sessions.load(deps.tenant, cookie, page.clock.now()) : undefined;
    const user = session?.userId ? await page.users.get(deps.tenant, session.userId) : undefined;
    // A session between password and MFA (or MFA enrolment) is not signed in yet for anyone who must pass MFA.
    const mfaPending = user !== undefined && !session?.mfaDone && mustPassMfa(user, (await page.mfaRequired?.(deps.tenant)) ?? false);
    if (!session?.userId || !user || user.disabled || mfaPending) {
      return { status: 401, message: 'Sign in through your clinical application first, then open this page again.' };
    }
    const access = await deps.resolver.effective(deps.tenant, session.userId);
    if (access?.canBreakGlass !== true) return { status: 403, message: 'None of your roles allows break-glass access.' };
    const principal = { subject: session.userId, clientId: 'haven-break-glass-page', kind: 'user' as const, scopes: [], access };
    return { session, who: { subject: session.userId, kind: 'user', principal } };
  }
  const refuse = (reply: FastifyReply, r: { status: number; message: string }) =>
    sendPage(reply, r.status, 'Emergency access', `<h1>Emergency access</h1><p role="alert">${esc(r.message)}</p>`);

  app.get(BREAK_GLASS_PAGE, async (req, reply) => {
    const c = await caller(req);
    if ('status' in c) return refuse(reply, c);
    return sendPage(reply, 200, 'Emergency access', formPage(c.session, deps.breakGlassMinutes, `${page.basePath ?? ''}${BREAK_GLASS_PAGE}`));
  });
  app.post(BREAK_GLASS_PAGE, async (req, reply) => {
    const c = await caller(req);
    if ('status' in c) return refuse(reply, c);
    const form = (req.body && typeof req.body === 'object' ? req.body : {}) as Form;
    if (!safeEqual(form['csrf']?.[0] ?? '', c.session.csrf)) return refuse(reply, { status: 403, message: 'The form has expired. Open the page again.' });
    try {
      const started = await startBreakGlass(deps, audit, req, c.who, reasonOf({ reason: form['reason']?.[0] ?? '' }), deps.breakGlassMinutes);
      return sendPage(reply, 201, 'Emergency access started', `<h1>Emergency access started</h1>
<p role="status">Until ${esc(started.expiresAt)} your role restrictions are lifted. Every access is recorded as emergency
treatment (ETREAT) and a security alert has been raised for review.</p>`);
    } catch (err) {
      if (isHavenError(err) && err.code === 'AUTH_REASON_REQUIRED') return sendPage(reply, 400, 'Emergency access', formPage(c.session, deps.breakGlassMinutes, `${page.basePath ?? ''}${BREAK_GLASS_PAGE}`, 'Give a reason of at least 8 characters.'));
      throw err;
    }
  });
}
