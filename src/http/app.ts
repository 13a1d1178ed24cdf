import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { DISCLOSURE_MEDIA, renderDisclosures, type AuditApi, type AuditHttpHooks, type DisclosureFormat } from '../audit/index.js';
import { HavenError, isHavenError, type Logger, type Principal, type RequestContext, type TenantId } from '../kernel/index.js';
import type { BulkService } from '../bulk/index.js';
import { registerBulkRoutes } from './bulk-routes.js';
import { registerAuthAdminRoutes, type AuthAdminDeps } from './auth-admin-routes.js';
import { PUBLIC_AUTH_ROUTES, registerAuthRoutes, type AuthRoutesDeps } from './auth-routes.js';
import { registerCors } from './auth-cors.js';
import { checkAcceptable, registerContentParsers } from './content.js';
import { toHttpError } from './errors.js';
import { registerHl7Routes, type Hl7HttpDeps } from './hl7v2-routes.js';
import { registerAccessRoutes, type AccessRoutesDeps } from './access-routes.js';
import { basePathOf, stripBasePath } from './base-path.js';
import { answerClientError } from './client-error.js';
import { BREAK_GLASS_PAGE } from './break-glass-page.js';
import { addHsts, httpsOptions, type TlsOptions } from './tls.js';
import type { FhirRouter } from './fhir/router.js';
import type { FhirRequest, FhirResponse } from './fhir/types.js';

export interface HttpDeps {
  logger: Logger;
  /** Public base URL, e.g. http://127.0.0.1:8080 (no trailing slash). */
  baseUrl: string;
  tenant: TenantId;
  maxBodyBytes: number;
  router: FhirRouter;
  authenticate(authorization: string | undefined): Promise<Principal>;
  issueToken(form: Record<string, string>, tokenUrl: string, request?: { authorization?: string; requestId: string; sourceIp?: string }): Promise<object>;
  /** Maps a token-endpoint error to its OAuth status and JSON body. */
  oauthError(err: unknown): { status: number; body: object } | undefined;
  jwks(): Promise<object>;
  smartConfiguration(baseUrl: string): object;
  ready(): Promise<boolean>;
  /** Audit of FHIR requests and token events, and the audit proof API (absent only when switched off in tests). */
  audit?: { hooks: AuditHttpHooks; api: AuditApi };
  /** SMART App Launch authorization server: sign-in flow, introspection, revocation, admin API. */
  identity?: { routes: Omit<AuthRoutesDeps, 'baseUrl' | 'tenant' | 'oauthError'>; admin: AuthAdminDeps };
  /** Bulk Data export status and file endpoints (/bulk/…). */
  bulk?: BulkService;
  /** HL7 v2 message store API and /metrics (docs/hl7v2.md). */
  hl7?: Hl7HttpDeps;
  /** Roles and policies, break-glass, just-in-time elevation (docs/security/identity.md). */
  access?: Omit<AccessRoutesDeps, 'tenant' | 'logger'>;
  /** PEM certificate and key: serve HTTPS (TLS 1.2+, strong ciphers, HSTS). */
  tls?: TlsOptions;
  /** Addresses/CIDR ranges of reverse proxies whose X-Forwarded-For is believed (HAVEN_TRUSTED_PROXIES). */
  trustedProxies?: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    havenCtx?: RequestContext;
  }
}

// Endpoints reachable without a token: the spec allows metadata; health probes carry no PHI.
// The break-glass page authenticates by the authorization server's session cookie, not a bearer token.
const PUBLIC_ROUTES = new Set(['/fhir/metadata', '/healthz', '/readyz', '/auth/token', '/.well-known/jwks.json', '/fhir/.well-known/smart-configuration', '/.well-known/smart-configuration', ...PUBLIC_AUTH_ROUTES, BREAK_GLASS_PAGE]);
const ENCODED_NUL = /%00/i;

export function buildHttpApp(deps: HttpDeps): FastifyInstance {
  const basePath = basePathOf(deps.baseUrl);
  const app = Fastify({
    ...(deps.tls ? { https: httpsOptions(deps.tls) } : {}),
    // Below a path prefix (HAVEN_BASE_URL=https://host/haven), requests are routed with or without it (base-path.ts).
    ...(basePath ? { rewriteUrl: (req: { url?: string }) => stripBasePath(req.url ?? '/', basePath) } : {}),
    logger: false,
    bodyLimit: deps.maxBodyBytes,
    // req.ip is the client address for sign-in backoff and audit: X-Forwarded-For only counts when the peer
    // is a trusted proxy (read from the right, up to the first untrusted hop), or anyone could pick their own.
    ...(deps.trustedProxies && deps.trustedProxies.length > 0 ? { trustProxy: [...deps.trustedProxies] } : {}),
    // On shutdown, idle keep-alive connections close at once; busy ones finish their request first.
    forceCloseConnections: 'idle',
    // Requests the HTTP parser refuses (headers over 16 KB, not HTTP) get an OperationOutcome too.
    clientErrorHandler: answerClientError,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true },
    // Errors Fastify raises before routing (a path that does not decode) are answered like ours.
    frameworkErrors: (err, req, reply) => {
      const translated =
        err.code === 'FST_ERR_BAD_URL'
          ? new HavenError('incorrect', 'URL_MALFORMED', 'The request path contains an invalid percent-encoding')
          : err;
      const http = toHttpError(translated, deps.logger, req.id);
      void sendJson((reply as FastifyReply).code(http.status).headers(http.headers), http.outcome, false);
    },
  });
  registerContentParsers(app);
  registerCors(app); // before authentication: CORS preflights carry no token
  if (deps.tls) addHsts(app);
  const fhirBase = `${deps.baseUrl}/fhir`;

  app.addHook('onRequest', async (req) => {
    // An encoded NUL can reach an id, a search value or a route parameter only to fail in PostgreSQL (a 500).
    if (ENCODED_NUL.test(req.url)) throw new HavenError('incorrect', 'URL_MALFORMED', 'The request URL holds %00 (NUL), which no id, parameter or search value may contain');
    const path = req.url.split('?')[0]!;
    // Parametric public routes (the per-provider federation callbacks) are matched by their route pattern.
    if (PUBLIC_ROUTES.has(path) || PUBLIC_ROUTES.has(req.routeOptions.url ?? '') || (path === '/fhir' && req.method === 'OPTIONS')) return;
    const principal = await deps.authenticate(req.headers.authorization);
    req.havenCtx = { tenant: deps.tenant, principal, requestId: req.id, sourceIp: req.ip };
    if (deps.audit && path.startsWith('/fhir')) {
      // Break-glass access is always recorded as emergency treatment (ETREAT), whatever the client says.
      const purpose = (principal as { purposeOfUse?: string }).purposeOfUse ?? req.headers['x-purpose-of-use'];
      deps.audit.hooks.prepare(req.havenCtx, req.method, splitUrl(req.url).path, typeof purpose === 'string' ? purpose : undefined);
    }
  });

  // While draining for shutdown, finish in-flight requests and close their connections after them.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (req, reply) => {
    // No query strings or bodies in logs: they carry search values and PHI.
    deps.logger.info(
      { requestId: req.id, method: req.method, route: routeLabel(req.url), status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  app.setErrorHandler(async (err, req, reply) => {
    const bodyError = (err as { code?: string }).code;
    const translated =
      bodyError === 'FST_ERR_CTP_BODY_TOO_LARGE'
        ? new HavenError('too-large', 'BODY_TOO_LARGE', `The request body exceeds the limit of ${deps.maxBodyBytes} bytes`)
        : bodyError === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || bodyError === 'FST_ERR_CTP_EMPTY_TYPE'
          ? new HavenError('unsupported', 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported Content-Type; use application/fhir+json')
          : err;
    const http = toHttpError(translated, deps.logger, req.id);
    if (deps.audit && req.url.startsWith('/fhir') && !req.url.startsWith('/fhir/metadata')) {
      await deps.audit.hooks.failed(req.havenCtx, { tenant: deps.tenant, method: req.method, path: splitUrl(req.url).path, status: http.status, error: translated, requestId: req.id, sourceIp: req.ip });
    }
    return sendJson(reply.code(http.status).headers(http.headers), http.outcome, false);
  });

  app.setNotFoundHandler(async (req) => {
    throw new HavenError('not-found', 'ROUTE_NOT_FOUND', `No such endpoint: ${req.method} ${req.url.split('?')[0]}`);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const ok = await deps.ready();
    return reply.code(ok ? 200 : 503).send({ ready: ok });
  });
  app.get('/.well-known/jwks.json', async () => deps.jwks());
  app.get('/.well-known/smart-configuration', async () => deps.smartConfiguration(deps.baseUrl));
  app.get('/fhir/.well-known/smart-configuration', async () => deps.smartConfiguration(deps.baseUrl));
  app.post('/auth/token', async (req, reply) => {
    reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache');
    const form = Object.fromEntries(Object.entries((req.body as Record<string, string[]> | undefined) ?? {}).map(([k, v]) => [k, v[0] ?? '']));
    const event = { tenant: deps.tenant, form, requestId: req.id, sourceIp: req.ip };
    try {
      const authorization = req.headers.authorization;
      const issued = await deps.issueToken(form, `${deps.baseUrl}/auth/token`, { requestId: req.id, sourceIp: req.ip, ...(authorization ? { authorization } : {}) });
      await deps.audit?.hooks.token(event); // fail closed: no token without its audit entry
      return issued;
    } catch (err) {
      if (!(isHavenError(err) && err.code === 'AUDIT_UNAVAILABLE')) await deps.audit?.hooks.token({ ...event, error: err }).catch(() => undefined);
      const oauth = deps.oauthError(err);
      if (!oauth) throw err;
      return reply.code(oauth.status).send(oauth.body);
    }
  });
  if (deps.audit) registerAuditRoutes(app, deps.audit);
  if (deps.identity) {
    registerAuthRoutes(app, { ...deps.identity.routes, baseUrl: deps.baseUrl, tenant: deps.tenant, oauthError: deps.oauthError });
    registerAuthAdminRoutes(app, deps.identity.admin);
  }
  if (deps.bulk) registerBulkRoutes(app, deps.bulk, deps.baseUrl);
  if (deps.access) registerAccessRoutes(app, { ...deps.access, tenant: deps.tenant, logger: deps.logger });
  if (deps.hl7) registerHl7Routes(app, deps.hl7);

  const fhirHandler = async (req: FastifyRequest, reply: FastifyReply) => {
    const { path, query } = splitUrl(req.url);
    checkAcceptable(req.headers.accept, query.find(([k]) => k === '_format')?.[1]);
    const fhirReq: FhirRequest = {
      method: req.method as FhirRequest['method'],
      path,
      query: query.filter(([k]) => k !== '_format' && k !== '_pretty'),
      headers: req.headers as Record<string, string | undefined>,
      body: req.body,
      baseUrl: fhirBase,
    };
    const ctx = req.havenCtx ?? anonymousContext(deps.tenant, req.id);
    const res = await deps.router(ctx, fhirReq);
    if (deps.audit && req.havenCtx) await deps.audit.hooks.completed(req.havenCtx, res.status);
    const pretty = query.some(([k, v]) => k === '_pretty' && v === 'true');
    return sendFhir(reply, res, pretty, req.method === 'HEAD');
  };
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], url: '/fhir', handler: fhirHandler, exposeHeadRoute: false });
  app.route({ method: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'], url: '/fhir/*', handler: fhirHandler, exposeHeadRoute: false });
  return app;
}

/** GET /audit/…: signed tree heads and RFC 9162 proofs (authenticated; admin or system/AuditEvent.r). */
function registerAuditRoutes(app: FastifyInstance, audit: { hooks: AuditHttpHooks; api: AuditApi }): void {
  const { api } = audit;
  const ctxOf = (req: FastifyRequest) => req.havenCtx!;
  const query = (req: FastifyRequest) => req.query as Record<string, string | string[] | undefined>;
  app.get('/audit/tree-head', async (req) => api.treeHead(ctxOf(req)));
  app.get('/audit/proof/inclusion', async (req) => api.inclusion(ctxOf(req), onlyParams('AUDIT_BAD_PROOF_REQUEST', query(req), ['seq', 'treeSize'])));
  app.get('/audit/proof/consistency', async (req) => api.consistency(ctxOf(req), onlyParams('AUDIT_BAD_PROOF_REQUEST', query(req), ['from', 'to'])));
  // The accounting of disclosures is a report (JSON, CSV or HTML), not a FHIR resource: its own route.
  app.get('/fhir/Patient/:id/$disclosures', async (req, reply) => {
    const q = onlyParams('AUDIT_SEARCH_INVALID', query(req), ['_since', '_until', '_format', '_pretty']);
    const format = disclosureFormat(q['_format'], req.headers.accept);
    const report = await api.disclosures(ctxOf(req), (req.params as { id: string }).id, {
      ...(q['_since'] !== undefined ? { since: q['_since'] } : {}),
      ...(q['_until'] !== undefined ? { until: q['_until'] } : {}),
    });
    await audit.hooks.completed(ctxOf(req), 200);
    return reply.type(DISCLOSURE_MEDIA[format]).header('cache-control', 'no-store').send(renderDisclosures(report, format));
  });
}

/**
 * The audit routes' query, each parameter once and known: an auditor who misspells a bound
 * (`since` for `_since`) or asks for a proof by a name it does not take (`size` for
 * `treeSize`) must not get a wider report or another tree's proof as if it had been understood.
 */
function onlyParams(code: string, q: Record<string, string | string[] | undefined>, allowed: string[]): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(q)) {
    if (!allowed.includes(k)) throw new HavenError('incorrect', code, `Unknown parameter ${k}; this endpoint takes ${allowed.join(', ')}`, { expression: [k] });
    if (Array.isArray(v)) throw new HavenError('incorrect', code, `Parameter ${k} is given more than once`, { expression: [k] });
    out[k] = v;
  }
  return out;
}

function disclosureFormat(format: string | undefined, accept: string | undefined): DisclosureFormat {
  const wanted = format ?? (accept?.includes('text/csv') ? 'csv' : accept?.includes('text/html') ? 'html' : 'json');
  if (wanted === 'json' || wanted === 'csv' || wanted === 'html') return wanted;
  throw new HavenError('unsupported', 'NOT_ACCEPTABLE', '$disclosures answers in _format=json, csv or html');
}

function anonymousContext(tenant: TenantId, requestId: string): RequestContext {
  return { tenant, requestId, principal: { subject: 'anonymous', clientId: 'anonymous', kind: 'system', scopes: [] } };
}

function splitUrl(url: string): { path: string[]; query: [string, string][] } {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  let path: string[];
  try {
    path = rawPath.replace(/^\/fhir\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw new HavenError('incorrect', 'URL_MALFORMED', 'The request path contains an invalid percent-encoding');
  }
  const query = q < 0 ? [] : [...new URLSearchParams(url.slice(q + 1))];
  return { path, query };
}

/** Resource type (or first segment) only: ids and query strings stay out of logs. */
function routeLabel(url: string): string {
  const [first, second] = url.split('?')[0]!.split('/').filter(Boolean);
  return first === 'fhir' ? `/fhir/${second ?? ''}` : `/${first ?? ''}`;
}

function sendFhir(reply: FastifyReply, res: FhirResponse, pretty: boolean, head: boolean) {
  reply.code(res.status).headers(res.headers);
  if (res.body === undefined || head) return reply.send();
  return sendJson(reply, res.body, pretty);
}

function sendJson(reply: FastifyReply, body: object | string, pretty: boolean) {
  reply.type('application/fhir+json; charset=utf-8');
  if (typeof body === 'string') return reply.send(pretty ? JSON.stringify(JSON.parse(body), null, 2) : body);
  return reply.send(JSON.stringify(body, null, pretty ? 2 : undefined));
}
