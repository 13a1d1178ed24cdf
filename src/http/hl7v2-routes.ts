import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Hl7Api } from '../hl7v2/ingest/index.js';
import { HavenError } from '../kernel/index.js';

/** Media types of an HL7 v2 message body (ER7, the pipe-and-hat encoding). */
const HL7_TYPES = ['x-application/hl7-v2+er7', 'application/hl7-v2', 'text/plain'];

export interface Hl7HttpDeps {
  api: Hl7Api;
  metrics: { render(): string };
}

/**
 * The HL7 v2 message store API (docs/hl7v2.md) and GET /metrics. Every route
 * is behind the app's bearer-token check; errors become OperationOutcome
 * through the app's error handler.
 */
export function registerHl7Routes(app: FastifyInstance, deps: Hl7HttpDeps): void {
  const { api } = deps;
  const ctxOf = (req: FastifyRequest) => req.havenCtx!;
  void app.register(async (scope) => {
    // Raw bytes: the message's charset (MSH-18) decides how they decode, not the HTTP header.
    scope.addContentTypeParser(HL7_TYPES, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    scope.post('/hl7v2/messages', async (req, reply) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      return reply.type('application/json').send(await api.submit(ctxOf(req), body));
    });
  });
  app.get('/hl7v2/messages', async (req, reply) => reply.type('application/json').send(await api.list(ctxOf(req), req.query as Record<string, string | undefined>)));
  app.get('/hl7v2/messages/:id', async (req, reply) => {
    reply.header('cache-control', 'no-store');
    return reply.type('application/json').send(await api.read(ctxOf(req), (req.params as { id: string }).id));
  });
  app.post('/hl7v2/messages/:id/$replay', async (req, reply) => reply.type('application/json').send(await api.replay(ctxOf(req), (req.params as { id: string }).id)));
  app.post('/hl7v2/$replay', async (req, reply) => {
    const count = (req.query as Record<string, string | undefined>)['_count'];
    const limit = count === undefined ? 10000 : Number(count);
    if (!/^\d+$/.test(count ?? '10000') || limit < 1 || limit > 100000) {
      throw new HavenError('incorrect', 'HL7_QUERY_INVALID', '_count must be an integer from 1 to 100000', { expression: ['_count'] });
    }
    return reply.type('application/json').send(await api.replayFailed(ctxOf(req), limit));
  });
  // Prometheus text format; no PHI, but still only for authenticated callers.
  app.get('/metrics', async (_req, reply) => reply.type('text/plain; version=0.0.4; charset=utf-8').send(deps.metrics.render()));
}
