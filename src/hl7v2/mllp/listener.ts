import { randomUUID } from 'node:crypto';
import type { Logger, RequestContext, TenantId } from '../../kernel/index.js';
import { isBatch } from '../batch.js';
import { buildAck, sniffHeader } from '../ingest/ack.js';
import type { Ingester } from '../ingest/ingester.js';
import type { Hl7Metrics } from '../ingest/metrics.js';
import { createMllpServer, type ConnectionInfo, type MllpServer } from './server.js';

export interface MllpListenerOptions {
  host: string;
  port: number;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  tls?: { cert: Buffer; key: Buffer; ca?: Buffer };
  tenant: TenantId;
  ingester: Ingester;
  metrics: Hl7Metrics;
  logger: Logger;
}

/**
 * The MLLP channel's identity: a system principal named after the peer (its
 * client certificate's CN under mutual TLS, else its address), allowed the
 * FHIR writes that conversion produces. The network boundary (bind address,
 * firewall, client certificates) is what admits a sender.
 */
export function channelContext(tenant: TenantId, info: ConnectionInfo): RequestContext {
  const who = info.clientCertificate ? `cert:${info.clientCertificate}` : info.remoteAddress;
  return {
    tenant,
    requestId: randomUUID(),
    sourceIp: info.remoteAddress,
    principal: { subject: `mllp:${who}`, clientId: 'mllp', kind: 'system', scopes: ['system/*.cruds'] },
  };
}

export function createMllpListener(options: MllpListenerOptions): MllpServer {
  const { ingester, metrics, tenant } = options;
  return createMllpServer({
    host: options.host,
    port: options.port,
    maxMessageBytes: options.maxMessageBytes,
    idleTimeoutMs: options.idleTimeoutMs,
    ...(options.tls ? { tls: options.tls } : {}),
    logger: options.logger,
    async handle(frame, info) {
      // A batch in one frame is answered with one frame holding the batch of acknowledgments.
      if (isBatch(frame)) return { ack: (await ingester.ingestBatch(frame, { channel: 'mllp', ctx: channelContext(tenant, info) })).ack };
      const r = await ingester.ingest(frame, { channel: 'mllp', ctx: channelContext(tenant, info) });
      return { ...(r.ack !== undefined ? { ack: r.ack } : {}), ...(r.pending ? { pending: r.pending } : {}) };
    },
    tooLarge(head, bytes) {
      metrics.inc('received', 'mllp');
      metrics.inc('rejected', 'mllp');
      metrics.inc('acked', 'mllp', 'AR');
      const text = `Message too large: it exceeds ${options.maxMessageBytes} bytes (${bytes}+ received); connection closed`;
      return buildAck({ original: sniffHeader(head.toString('latin1')), code: 'AR', text, condition: 'internal', now: new Date() });
    },
  });
}
