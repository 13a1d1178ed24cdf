import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Flow, FlowResult, Form } from '../auth/flow.js';
import type { TokenAdmin, TokenAdminRequest } from '../auth/introspect.js';
import type { TenantId } from '../kernel/index.js';
import { pageCsp } from './auth-pages/html.js';
import { renderPage } from './auth-pages/pages.js';
import { basePathOf, publicPath, publicUrl } from './base-path.js';
import { ACCOUNT_PAGE, registerAccountPage } from './account-page.js';
import { RECOVERY_CODES_PAGE, registerRecoveryCodesPage, type RecoveryCodesPageDeps } from './recovery-codes-page.js';

/** Reachable without a bearer token by design: the browser sign-in flow and the RFC 7662/7009 endpoints (client-authenticated). */
export const PUBLIC_AUTH_ROUTES = [
  '/auth/authorize',
  '/auth/flow',
  '/auth/flow/login',
  '/auth/flow/mfa',
  '/auth/flow/enrol',
  '/auth/flow/patient',
  '/auth/flow/consent',
  '/auth/flow/federated',
  '/auth/federated/callback',
  '/auth/federated/:provider/callback',
  '/auth/logout',
  '/auth/introspect',
  '/auth/revoke',
  // Authenticated by the sign-in session cookie (after MFA), not a bearer token.
  RECOVERY_CODES_PAGE,
  ACCOUNT_PAGE,
];

export interface AuthRoutesDeps {
  baseUrl: string;
  tenant: TenantId;
  flow: Flow;
  tokenAdmin: TokenAdmin;
  /** The signed-in user's own pages (recovery codes); absent: not offered. */
  account?: Omit<RecoveryCodesPageDeps, 'tenant'>;
  /** OAuth JSON error for RFC 6749 errors; undefined for anything else (left to the error handler). */
  oauthError(err: unknown): { status: number; body: object } | undefined;
}

/** `__Host-` needs Secure, which browsers honour only over https; plain-http development gets an ordinary name. */
export function sessionCookieName(baseUrl: string): string {
  return baseUrl.startsWith('https:') ? '__Host-haven_session' : 'haven_session';
}

function readCookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const single = (v: unknown): string | undefined => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : undefined);
const queryOf = (req: FastifyRequest) =>
  Object.fromEntries(Object.entries((req.query as Record<string, unknown> | undefined) ?? {}).map(([k, v]) => [k, single(v)]));
const formOf = (req: FastifyRequest): Form => (req.body && typeof req.body === 'object' ? (req.body as Form) : {});
const flatForm = (req: FastifyRequest) => Object.fromEntries(Object.entries(formOf(req)).map(([k, v]) => [k, v?.[0]]));

export function registerAuthRoutes(app: FastifyInstance, deps: AuthRoutesDeps): void {
  const cookieName = sessionCookieName(deps.baseUrl);
  const secure = deps.baseUrl.startsWith('https:') ? '; Secure' : '';
  const meta = (req: FastifyRequest) => ({ requestId: req.id, sourceIp: req.ip });
  const cookie = (req: FastifyRequest) => readCookie(req, cookieName);
  const basePath = basePathOf(deps.baseUrl);

  const send = (reply: FastifyReply, result: FlowResult, method: string) => {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    if (result.cookie) reply.header('Set-Cookie', `${cookieName}=${result.cookie}; Path=/; HttpOnly; SameSite=Lax${secure}`);
    if (result.kind === 'redirect') return reply.code(method === 'GET' ? 302 : 303).header('Location', publicPath(result.location, basePath)).send();
    return reply
      .code(result.status)
      .header('Content-Security-Policy', pageCsp('formTargets' in result.page ? result.page.formTargets : undefined))
      .header('X-Frame-Options', 'DENY')
      .header('Referrer-Policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(renderPage(result.page, basePath));
  };

  const authorize = async (req: FastifyRequest, reply: FastifyReply) => {
    const params = req.method === 'GET' ? queryOf(req) : flatForm(req);
    return send(reply, await deps.flow.start(params, cookie(req)), req.method);
  };
  app.get('/auth/authorize', authorize);
  app.post('/auth/authorize', authorize);
  app.get('/auth/flow', async (req, reply) => send(reply, await deps.flow.show(queryOf(req)['request'] ?? '', cookie(req), meta(req)), 'GET'));
  for (const step of ['login', 'mfa', 'enrol', 'patient', 'consent'] as const) {
    app.post(`/auth/flow/${step}`, async (req, reply) => {
      const request = queryOf(req)['request'] ?? '';
      return send(reply, await deps.flow[step](request, cookie(req), formOf(req), meta(req)), 'POST');
    });
  }
  app.post('/auth/flow/federated', async (req, reply) =>
    send(reply, await deps.flow.federatedStart(queryOf(req)['request'] ?? '', cookie(req), formOf(req)), 'POST'),
  );
  // One callback per provider (`/auth/federated/<id>/callback`; the HAVEN_OIDC_ISSUER one keeps the path without an id):
  // the flow finishes a sign-in only at the callback of the provider it was sent to.
  const federatedCallback = async (req: FastifyRequest, reply: FastifyReply) => {
    // The URL the provider redirected to (its redirect_uri, base path included), whether or not a proxy stripped the prefix.
    const url = publicUrl(req.url, deps.baseUrl);
    return send(reply, await deps.flow.federatedCallback(url, cookie(req), meta(req)), 'GET');
  };
  app.get('/auth/federated/callback', federatedCallback);
  app.get('/auth/federated/:provider/callback', federatedCallback);
  app.post('/auth/logout', async (req, reply) => {
    await deps.flow.logout(cookie(req), single(formOf(req)['csrf']) ?? '', meta(req));
    reply.header('Set-Cookie', `${cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure}`);
    return reply.code(204).send();
  });
  if (deps.account) {
    registerRecoveryCodesPage(app, { ...deps.account, tenant: deps.tenant, basePath }, cookie);
    registerAccountPage(app, { ...deps.account, tenant: deps.tenant, basePath }, cookie);
  }
  registerTokenAdminRoutes(app, deps);
}

function registerTokenAdminRoutes(app: FastifyInstance, deps: AuthRoutesDeps): void {
  const request = (req: FastifyRequest, endpoint: string): TokenAdminRequest => ({
    tenant: deps.tenant,
    form: flatForm(req),
    ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    endpointUrl: `${deps.baseUrl}${endpoint}`,
    tokenUrl: `${deps.baseUrl}/auth/token`,
    requestId: req.id,
    sourceIp: req.ip,
  });
  const guarded = async (reply: FastifyReply, work: () => Promise<unknown>) => {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    try {
      return await work();
    } catch (err) {
      const oauth = deps.oauthError(err);
      if (!oauth) throw err;
      if (oauth.status === 401) reply.header('WWW-Authenticate', 'Basic realm="haven"');
      return reply.code(oauth.status).send(oauth.body);
    }
  };
  app.post('/auth/introspect', async (req, reply) => guarded(reply, () => deps.tokenAdmin.introspect(request(req, '/auth/introspect'))));
  app.post('/auth/revoke', async (req, reply) =>
    guarded(reply, async () => {
      await deps.tokenAdmin.revoke(request(req, '/auth/revoke'));
      return reply.code(200).send();
    }),
  );
}
