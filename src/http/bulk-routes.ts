import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { BulkReply, BulkService } from '../bulk/index.js';

/**
 * Bulk Data status and file endpoints, outside /fhir (their URLs are opaque
 * to clients, which only follow Content-Location and manifest urls). The
 * onRequest hook has already authenticated the caller: no token, 401.
 */
export function registerBulkRoutes(app: FastifyInstance, bulk: BulkService, baseUrl: string): void {
  const ctxOf = (req: FastifyRequest) => req.havenCtx!;
  const params = (req: FastifyRequest) => req.params as { id: string; n?: string };
  app.get('/bulk/status/:id', async (req, reply) => send(reply, await bulk.status(ctxOf(req), params(req).id, baseUrl)));
  app.delete('/bulk/status/:id', async (req, reply) => send(reply, await bulk.cancel(ctxOf(req), params(req).id)));
  app.get('/bulk/files/:id/:n', async (req, reply) => send(reply, await bulk.file(ctxOf(req), params(req).id, params(req).n!)));
}

function send(reply: FastifyReply, res: BulkReply) {
  reply.code(res.status).headers(res.headers).header('Cache-Control', 'no-store');
  if (res.stream) return reply.type('application/fhir+ndjson').send(Readable.from(res.stream));
  if (res.body === undefined) return reply.send();
  const fhir = (res.body as { resourceType?: unknown }).resourceType === 'OperationOutcome';
  return reply.type(fhir ? 'application/fhir+json; charset=utf-8' : 'application/json; charset=utf-8').send(JSON.stringify(res.body));
}
