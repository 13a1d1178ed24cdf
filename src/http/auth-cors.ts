import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * CORS for browser apps (SMART public clients) on another origin: discovery,
 * JWKS, the token, introspection and revocation endpoints, and the FHIR API.
 * All of them authenticate by bearer token or client credentials, never by
 * cookie, so a wildcard origin lends no ambient authority and credentials are
 * never allowed. The cookie-bound sign-in pages and the admin API get no CORS.
 *
 * Registered before authentication: a preflight carries no Authorization header
 * (the browser sends it only on the real request), so it is answered here.
 */
const GET_ONLY = new Set(['/.well-known/smart-configuration', '/fhir/.well-known/smart-configuration', '/.well-known/jwks.json']);
const POST_ONLY = new Set(['/auth/token', '/auth/introspect', '/auth/revoke']);
const FHIR_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const ALLOWED_HEADERS = ['authorization', 'content-type', 'accept', 'prefer', 'if-match', 'if-none-match', 'if-modified-since', 'if-none-exist', 'x-request-id', 'x-purpose-of-use'];
// What a FHIR client needs to read from a response (RFC 6750 challenge, versioning, created resource).
const EXPOSED = 'Location, Content-Location, ETag, Last-Modified, WWW-Authenticate, X-Request-Id';

function corsMethods(path: string): string | undefined {
  if (GET_ONLY.has(path)) return 'GET';
  if (POST_ONLY.has(path)) return 'POST';
  if (path === '/fhir' || path.startsWith('/fhir/')) return FHIR_METHODS;
  return undefined;
}

const pathOf = (req: FastifyRequest) => req.url.split('?')[0]!;

function answerPreflight(req: FastifyRequest, reply: FastifyReply, methods: string): FastifyReply {
  const asked = String(req.headers['access-control-request-headers'] ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  // Only the listed headers are granted; an unlisted one makes the browser refuse the request, as it should.
  const granted = asked.filter((h) => ALLOWED_HEADERS.includes(h));
  return reply
    .code(204)
    .header('Access-Control-Allow-Origin', '*')
    .header('Access-Control-Allow-Methods', methods)
    .header('Access-Control-Allow-Headers', (granted.length > 0 ? granted : ALLOWED_HEADERS).join(', '))
    .header('Access-Control-Max-Age', '600')
    .send();
}

export function registerCors(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.method !== 'OPTIONS' || req.headers['access-control-request-method'] === undefined || req.headers.origin === undefined) return;
    const methods = corsMethods(pathOf(req));
    if (methods) return answerPreflight(req, reply, methods);
  });
  app.addHook('onSend', async (req, reply) => {
    if (corsMethods(pathOf(req)) === undefined) return;
    reply.header('Access-Control-Allow-Origin', '*').header('Access-Control-Expose-Headers', EXPOSED);
  });
}
