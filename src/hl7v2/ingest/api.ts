import { scopeAllowsAllTypes, type Interaction } from '../../auth/index.js';
import { HavenError, type RequestContext, type TenantId } from '../../kernel/index.js';
import { isBatch } from '../batch.js';
import { ackCodeOf } from './ack.js';
import type { Ingester } from './ingester.js';
import type { MessageMeta, MessageQuery, MessageStatus, MessageStore } from './message-store.js';
import type { MessageAudit } from './types.js';

/**
 * The message-store API, framework-neutral (routes in src/http/hl7v2-routes.ts).
 * Scopes (docs/hl7v2.md): listing needs `system/*.s` (or `.read`), reading a
 * message body `system/*.r`; submitting and replaying produce writes of any
 * resource type, so they need `system/*.c` and `system/*.u` (e.g. `system/*.cruds`).
 */
export interface Hl7Api {
  /** One message, or a batch (FHS/BHS … BTS/FTS): then one result per message and the batch of ACKs. */
  submit(ctx: RequestContext, body: Buffer): Promise<SubmitResult | BatchSubmitResult>;
  list(ctx: RequestContext, query: Record<string, string | undefined>): Promise<{ messages: object[]; next?: string }>;
  read(ctx: RequestContext, id: string): Promise<object>;
  replay(ctx: RequestContext, id: string): Promise<object>;
  replayFailed(ctx: RequestContext, limit?: number): Promise<{ replayed: number; processed: number; failed: number; ids: string[] }>;
}

export interface SubmitResult {
  id?: string;
  status: string;
  ackCode: string;
  ack?: string;
  duplicate: boolean;
}

export interface BatchSubmitResult {
  batch: true;
  /** How many messages got each acknowledgment code (AA, AE, AR, CA, …). */
  ackCodes: Record<string, number>;
  messages: SubmitResult[];
  /** The acknowledgment batch: FHS/BHS answering the batch's, one ACK per message, BTS/FTS. */
  ack: string;
}

export interface Hl7ApiDeps {
  tenant: TenantId;
  store: MessageStore;
  ingester: Ingester;
  audit: MessageAudit;
  blindIndex(tenant: string, value: string): Promise<string>;
}

function require(ctx: RequestContext, interactions: Interaction[], what: string): void {
  for (const i of interactions) {
    if (!scopeAllowsAllTypes(ctx.principal, i)) {
      throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', `${what} needs a system/*.${i[0]} scope`);
    }
  }
}

const STATUSES = new Set<MessageStatus>(['received', 'processed', 'failed', 'rejected']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function metaJson(m: MessageMeta): object {
  return {
    id: m.id,
    channel: m.channel,
    sender: m.sender,
    controlId: m.controlId,
    type: m.type,
    trigger: m.trigger,
    version: m.version,
    status: m.status,
    ackCode: m.ackCode,
    errorCode: m.errorCode,
    error: m.error,
    bytes: m.bytes,
    attempts: m.attempts,
    replays: m.replays,
    receivedAt: m.receivedAt.toISOString(),
    processedAt: m.processedAt?.toISOString() ?? null,
  };
}

/** MSA-3 of an ACK: the reason it gives. */
function msaText(ack: string): string {
  const msa = ack.split('\r').find((l) => l.startsWith('MSA')) ?? '';
  return msa.split(msa[3] ?? '|')[3] ?? 'The batch was refused';
}

/** UTF-8 when the bytes are UTF-8 (ASCII included), else ISO 8859-1, the other charsets Haven accepts. */
function decodeText(raw: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    return raw.toString('latin1');
  }
}

function checkId(id: string): void {
  if (!UUID.test(id)) throw new HavenError('not-found', 'HL7_MESSAGE_NOT_FOUND', 'No HL7 v2 message has this id');
}

function parseSince(v: string): Date {
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new HavenError('incorrect', 'HL7_QUERY_INVALID', 'since must be an ISO 8601 date-time', { expression: ['since'] });
  return d;
}

function parseCursor(v: string): { receivedAt: Date; id: string } {
  const [t, id] = Buffer.from(v, 'base64url').toString('utf8').split(' ');
  const d = new Date(t ?? '');
  if (!id || !UUID.test(id) || Number.isNaN(d.getTime())) throw new HavenError('incorrect', 'HL7_QUERY_INVALID', 'Invalid page cursor', { expression: ['cursor'] });
  return { receivedAt: d, id };
}

async function toQuery(deps: Hl7ApiDeps, q: Record<string, string | undefined>): Promise<MessageQuery> {
  const known = new Set(['type', 'trigger', 'sender', 'status', 'patient', 'since', '_count', 'cursor']);
  const unknown = Object.keys(q).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new HavenError('incorrect', 'HL7_QUERY_INVALID', `Unknown parameter(s): ${unknown.join(', ')}`, { expression: unknown });
  const count = q['_count'] === undefined ? 50 : Number(q['_count']);
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new HavenError('incorrect', 'HL7_QUERY_INVALID', '_count must be an integer from 1 to 1000', { expression: ['_count'] });
  if (q['status'] !== undefined && !STATUSES.has(q['status'] as MessageStatus)) {
    throw new HavenError('incorrect', 'HL7_QUERY_INVALID', 'status must be received, processed, failed or rejected', { expression: ['status'] });
  }
  return {
    count,
    ...(q['type'] ? { type: q['type'] } : {}),
    ...(q['trigger'] ? { trigger: q['trigger'] } : {}),
    ...(q['sender'] ? { sender: q['sender'] } : {}),
    ...(q['status'] ? { status: q['status'] as MessageStatus } : {}),
    ...(q['patient'] ? { patientKey: await deps.blindIndex(deps.tenant, q['patient']) } : {}),
    ...(q['since'] ? { since: parseSince(q['since']) } : {}),
    ...(q['cursor'] ? { before: parseCursor(q['cursor']) } : {}),
  };
}

export function createHl7Api(deps: Hl7ApiDeps): Hl7Api {
  const { store, tenant, ingester } = deps;

  async function submitBatch(ctx: RequestContext, body: Buffer): Promise<BatchSubmitResult> {
    const out = await ingester.ingestBatch(body, { channel: 'http', ctx });
    if (out.results.length === 0 && ackCodeOf(out.ack) === 'AR') {
      // The envelope was refused whole: nothing was stored.
      throw new HavenError('incorrect', 'HL7_BATCH_MALFORMED', msaText(out.ack));
    }
    const ackCodes: Record<string, number> = {};
    for (const r of out.results) ackCodes[r.ackCode] = (ackCodes[r.ackCode] ?? 0) + 1;
    const messages = out.results.map((r) => ({ ...(r.messageId ? { id: r.messageId } : {}), status: r.status, ackCode: r.ackCode, duplicate: r.duplicate }));
    return { batch: true, ackCodes, messages, ack: out.ack };
  }

  return {
    async submit(ctx, body) {
      require(ctx, ['create', 'update'], 'Submitting an HL7 v2 message');
      if (body.length === 0) throw new HavenError('incorrect', 'HL7_MALFORMED', 'The request body is empty; send one HL7 v2 message');
      if (isBatch(body)) return submitBatch(ctx, body);
      const r = await ingester.ingest(body, { channel: 'http', ctx });
      if (!r.pending) return { ...(r.messageId ? { id: r.messageId } : {}), status: r.status, ackCode: r.ackCode, ...(r.ack !== undefined ? { ack: r.ack } : {}), duplicate: r.duplicate };
      // Enhanced mode: MLLP gets the commit ACK at once; over HTTP the answer waits for and carries the application ACK.
      await r.pending;
      const meta = r.messageId ? await store.get(tenant, r.messageId) : undefined;
      return { id: r.messageId, status: meta?.status ?? r.status, ackCode: meta?.ackCode ?? r.ackCode, ack: meta?.ack ?? r.ack, duplicate: r.duplicate };
    },
    async list(ctx, q) {
      require(ctx, ['search'], 'Searching HL7 v2 messages');
      const query = await toQuery(deps, q);
      const rows = await store.list(tenant, query);
      const last = rows[rows.length - 1];
      const next = rows.length === query.count && last ? Buffer.from(`${last.receivedAt.toISOString()} ${last.id}`).toString('base64url') : undefined;
      return { messages: rows.map(metaJson), ...(next ? { next } : {}) };
    },
    async read(ctx, id) {
      require(ctx, ['read'], 'Reading an HL7 v2 message');
      checkId(id);
      const meta = await store.get(tenant, id);
      if (!meta) throw new HavenError('not-found', 'HL7_MESSAGE_NOT_FOUND', 'No HL7 v2 message has this id');
      const raw = await store.raw(tenant, id);
      await deps.audit.read(ctx, id, []); // fail closed: no message text without its audit entry
      return { ...metaJson(meta), ack: meta.ack, message: raw ? decodeText(raw) : null };
    },
    async replay(ctx, id) {
      require(ctx, ['create', 'update'], 'Replaying an HL7 v2 message');
      checkId(id);
      const p = await ingester.replay(ctx, id);
      const meta = await store.get(tenant, id);
      return { ...(meta ? metaJson(meta) : { id }), ackCode: p.ackCode };
    },
    async replayFailed(ctx, limit = 10_000) {
      require(ctx, ['create', 'update'], 'Replaying HL7 v2 messages');
      // A snapshot of the dead letter: messages that fail again are not retried in a loop.
      const ids = await store.idsWithStatus(tenant, 'failed', limit);
      let processed = 0;
      for (const id of ids) {
        const p = await ingester.replay(ctx, id);
        if (p.status === 'processed') processed += 1;
      }
      return { replayed: ids.length, processed, failed: ids.length - processed, ids };
    },
  };
}
