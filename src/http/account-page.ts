import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RecoveryCodeStore } from '../auth/recovery-codes.js';
import { mustPassMfa } from '../auth/users.js';
import { esc, sendPage } from './auth-pages/html.js';
import { ACCOUNT_PAGE, RECOVERY_CODES_PAGE, type AccountPageBaseDeps } from './account-paths.js';

export { ACCOUNT_PAGE };

export interface AccountPageDeps extends AccountPageBaseDeps {
  recoveryCodes: Pick<RecoveryCodeStore, 'remaining'>;
}

/**
 * "Your account": the one page a signed-in user of the authorization server's
 * browser session can find their own pages from (today the recovery codes).
 * Server-rendered like the sign-in pages, no script; a session still between
 * password and MFA is not signed in here.
 */
export function registerAccountPage(app: FastifyInstance, deps: AccountPageDeps, cookieOf: (req: FastifyRequest) => string | undefined): void {
  const base = deps.basePath ?? '';
  app.get(ACCOUNT_PAGE, async (req, reply) => {
    const cookie = cookieOf(req);
    const session = cookie ? await deps.sessions.load(deps.tenant, cookie, deps.clock.now()) : undefined;
    const user = session?.userId ? await deps.users.get(deps.tenant, session.userId) : undefined;
    const mfaPending = user !== undefined && !session?.mfaDone && mustPassMfa(user, (await deps.mfaRequired?.(deps.tenant)) ?? false);
    if (!session?.userId || !user || user.disabled || mfaPending) {
      return sendPage(reply, 401, 'Your account', '<h1>Your account</h1><p role="alert">Sign in through your clinical application first, then open this page again.</p>');
    }
    const items: string[] = [];
    if (user.hasTotp) {
      const left = await deps.recoveryCodes.remaining(deps.tenant, user.userId);
      items.push(`<li><a href="${esc(`${base}${RECOVERY_CODES_PAGE}`)}">Recovery codes</a> — ${left} unused; make a new set</li>`);
    }
    const list = items.length > 0
      ? `<nav aria-label="Account pages"><ul>\n${items.join('\n')}\n</ul></nav>`
      : '<p>There is nothing to manage for your account here yet.</p>';
    return sendPage(reply, 200, 'Your account', `<h1>Your account</h1>\n<p>Signed in as <strong>${esc(user.username)}</strong>.</p>\n${list}`);
  });
}
