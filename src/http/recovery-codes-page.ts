import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthAuditor } from '../auth/auth-audit.js';
import type { RecoveryCodeStore } from '../auth/recovery-codes.js';
import { safeEqual } from '../auth/secrets.js';
import type { Session } from '../auth/sessions.js';
import { errorBox, esc, hidden, sendPage } from './auth-pages/html.js';
import { recoveryCodesBody } from './auth-pages/recovery.js';
import { ACCOUNT_PAGE, RECOVERY_CODES_PAGE, type AccountPageBaseDeps } from './account-paths.js';

export { RECOVERY_CODES_PAGE };

export interface RecoveryCodesPageDeps extends AccountPageBaseDeps {
  recoveryCodes: Pick<RecoveryCodeStore, 'issue' | 'remaining'>;
  audit: AuthAuditor;
}

type Form = Record<string, string[] | undefined>;

function formPage(session: Session, remaining: number, action: string, account: string, error?: string): string {
  return `<h1>Recovery codes</h1>
<p>You have <strong>${remaining}</strong> unused recovery code${remaining === 1 ? '' : 's'}. Each lets you sign in once without your authenticator app.</p>
${errorBox(error)}
<form method="post" action="${esc(action)}"${error ? ' aria-describedby="form-error"' : ''}>
${hidden('csrf', session.csrf)}
<p id="regenerate-help">Making a new set replaces all your current codes: the old ones stop working at once.</p>
<button type="submit" aria-describedby="regenerate-help">Make new recovery codes</button>
</form>
<p><a href="${esc(account)}">Back to your account</a></p>`;
}

/**
 * "Make new recovery codes" for the signed-in user of a browser session (the
 * authorization server's cookie, after MFA): the old set stops working and the
 * new one is shown once. Only a session that passed MFA may do it, so a
 * stolen password alone cannot replace the codes; the form carries the
 * session's CSRF token. Audited as `auth.mfa-recovery-issued`.
 */
export function registerRecoveryCodesPage(app: FastifyInstance, deps: RecoveryCodesPageDeps, cookieOf: (req: FastifyRequest) => string | undefined): void {
  /** The signed-in user who passed MFA and has an authenticator; otherwise the refusal to show. */
  async function caller(req: FastifyRequest): Promise<{ session: Session; userId: string } | { status: number; message: string }> {
    const cookie = cookieOf(req);
    const session = cookie ? await deps.sessions.load(deps.tenant, cookie, deps.clock.now()) : undefined;
    const user = session?.userId ? await deps.users.get(deps.tenant, session.userId) : undefined;
    // Recovery codes belong to an authenticator, so whoever has one passed MFA in a signed-in session.
    if (!session?.userId || !user || user.disabled || !session.mfaDone) {
      return { status: 401, message: 'Sign in through your clinical application first (with your verification code), then open this page again.' };
    }
    if (!user.hasTotp) return { status: 409, message: 'Your account has no authenticator app, so it has no recovery codes.' };
    return { session, userId: user.userId };
  }
  const here = `${deps.basePath ?? ''}${RECOVERY_CODES_PAGE}`;
  const account = `${deps.basePath ?? ''}${ACCOUNT_PAGE}`;
  const refuse = (reply: FastifyReply, r: { status: number; message: string }) =>
    sendPage(reply, r.status, 'Recovery codes', `<h1>Recovery codes</h1><p role="alert">${esc(r.message)}</p>`);

  app.get(RECOVERY_CODES_PAGE, async (req, reply) => {
    const c = await caller(req);
    if ('status' in c) return refuse(reply, c);
    return sendPage(reply, 200, 'Recovery codes', formPage(c.session, await deps.recoveryCodes.remaining(deps.tenant, c.userId), here, account));
  });
  app.post(RECOVERY_CODES_PAGE, async (req, reply) => {
    const c = await caller(req);
    if ('status' in c) return refuse(reply, c);
    const form = (req.body && typeof req.body === 'object' ? req.body : {}) as Form;
    if (!safeEqual(form['csrf']?.[0] ?? '', c.session.csrf)) {
      return sendPage(reply, 403, 'Recovery codes', formPage(c.session, await deps.recoveryCodes.remaining(deps.tenant, c.userId), here, account, 'The form has expired. Try again.'));
    }
    // Audited before it takes effect (fail closed).
    await deps.audit({ tenant: deps.tenant, event: 'mfa-recovery-issued', outcome: 'success', outcomeCode: 'regenerated', subject: c.userId, clientId: 'haven-account-page', kind: 'user', requestId: req.id, sourceIp: req.ip });
    const codes = await deps.recoveryCodes.issue(deps.tenant, c.userId, deps.clock.now());
    return sendPage(reply, 200, 'Save your recovery codes', recoveryCodesBody(codes, { href: account, label: 'I have saved them' }));
  });
}
