import { isHavenError } from '../kernel/index.js';
import type { PendingAuthorization } from './auth-requests.js';
import type { Federation } from './federation.js';
import { errorPage, first } from './flow-types.js';
import type { FlowCore, FlowMeta, FlowResult, Form } from './flow-types.js';
import { newSecret, safeEqual } from './secrets.js';
import { isAdminRole } from './users.js';

const FOREIGN_RESPONSE = 'This sign-in response does not belong to a sign-in started in this browser.';

/**
 * Sign-in through one of the configured external OpenID providers: the
 * login page's button names the provider; the browser goes there with a
 * state bound to the pending request and session; only that provider's own
 * callback may finish it, so a response (or its state) from provider A
 * presented at B's callback is refused before any code is exchanged.
 */
export function createFederatedSteps(core: FlowCore) {
  const { deps } = core;
  const { tenant } = deps;
  const providers = deps.federations ?? [];

  return {
    /** Sends the browser to the chosen provider; state carries the request id, bound to this session. */
    async start(request: string, cookie: string | undefined, form: Form): Promise<FlowResult> {
      const { ctx, fail } = await core.guard(request, cookie, form, 'login');
      if (!ctx) return fail;
      // One provider: the button need not say which (and forms rendered before an upgrade do not).
      const wanted = first(form, 'provider');
      const provider = wanted ? providers.find((p) => p.id === wanted) : providers.length === 1 ? providers[0] : undefined;
      if (!provider) return errorPage('External sign-in is not configured for this provider.', 404);
      const { url, checks } = await provider.start(`${request}~${newSecret()}`);
      await deps.requests.update(tenant, request, { ...ctx.pending, federation: checks });
      return { kind: 'redirect', location: url };
    },

    /** The provider's redirect back, at the callback path of the provider it claims to come from. */
    async callback(callbackUrl: URL, cookie: string | undefined, meta: FlowMeta): Promise<FlowResult> {
      const provider: Federation | undefined = providers.find((p) => p.callbackPath === callbackUrl.pathname);
      const state = callbackUrl.searchParams.get('state') ?? '';
      const request = state.split('~')[0]!;
      const ctx = provider && (await core.load(request, cookie));
      const checks = ctx?.pending.federation;
      if (!provider || !ctx || !checks || checks.provider !== provider.id || !safeEqual(state, checks.state)) {
        if (ctx && checks) await core.event(meta, ctx, 'login', 'failure', { outcomeCode: 'federated-foreign-response' });
        return errorPage(FOREIGN_RESPONSE, 400);
      }
      // One attempt per redirect: the checks are gone whatever happens next.
      await deps.requests.update(tenant, request, { ...ctx.pending, federation: undefined } as PendingAuthorization);
      let result: Awaited<ReturnType<Federation['finish']>>;
      try {
        result = await provider.finish(tenant, callbackUrl, checks);
      } catch (err) {
        if (!isHavenError(err) || err.category === 'unavailable' || err.category === 'fault') throw err;
        await core.event(meta, ctx, 'login', 'failure', { outcomeCode: err.code });
        return errorPage(`${err.message}.`, err.category === 'forbidden' ? 403 : 401);
      }
      const { user, mfa } = result;
      const audited = { ...ctx, user };
      // Admin roles, and everyone where the tenant requires it, need MFA: asserted by the provider (amr) or a local authenticator.
      const admin = user.roles.some(isAdminRole);
      if ((admin || (await deps.mfaRequired?.()) === true) && !mfa && !user.hasTotp) {
        await core.event(meta, audited, 'login', 'failure', { outcomeCode: 'federated-no-mfa' });
        return errorPage(`Your identity provider did not confirm multi-factor authentication, which ${admin ? 'your role' : 'your organisation'} requires.`, 403);
      }
      await core.event(meta, audited, 'login', 'success', { outcomeCode: `${mfa ? 'federated-mfa' : 'federated'}:${provider.id}` });
      return core.signIn(ctx, user, mfa);
    },
  };
}
