import { randomUUID } from 'node:crypto';
import { HavenError, isHavenError, type RequestContext } from '../../kernel/index.js';
import type { Hl7Message } from '../model.js';
import { ackModes, buildAck, firstComponent, sniffHeader, wanted, type AckModes, type ErrorCondition, type MshHeader } from './ack.js';
import type { MessageMeta } from './message-store.js';
import { pidIdentifiers, searchForms } from './patient-keys.js';
import { ingestBatch, type BatchOutcome } from './batch-ingest.js';
import { createGroupedPath } from './grouped.js';
import { createProcessor, type ProcessInput, type Processed } from './process.js';
import type { IngestDeps, IngestResult, IngestSource } from './types.js';

export interface Ingester {
  /** Stores, converts, applies and acknowledges one message (the raw bytes of one MLLP frame or HTTP body). */
  ingest(raw: Buffer, source: IngestSource): Promise<IngestResult>;
  /**
   * A batch (FHS/BHS … BTS/FTS): every message as `ingest` takes one, a patient's in batch order;
   * answers a batch of their acknowledgments. An envelope that is wrong (order, counts) is refused
   * whole: a batch AR, nothing stored.
   */
  ingestBatch(raw: Buffer, source: IngestSource): Promise<BatchOutcome>;
  /** Reprocesses a dead-letter (failed) message. */
  replay(ctx: RequestContext, id: string): Promise<Processed>;
  /** Processes messages left `received` by a crash (or a database outage); returns how many. */
  recover(ctx: RequestContext): Promise<number>;
}

/** The sender key of deduplication and templates: MSH-3^MSH-4 (first components). */
export function senderOf(message: Hl7Message): string {
  return `${message.get('MSH-3') ?? ''}^${message.get('MSH-4') ?? ''}`;
}

/**
 * The batch header (BHS, else FHS) read as an MSH for the batch's AR: its sender and receiver,
 * and its control id (BHS-11 / FHS-11) where an MSH has MSH-10, so MSA-2 names the batch refused.
 */
function batchHeader(raw: Buffer): MshHeader {
  const text = raw.subarray(0, 8192).toString('latin1');
  const h = sniffHeader(text, /(^|[\r\n])BHS/.test(text) ? 'BHS' : 'FHS');
  if (h.fields.length === 0) return h;
  const fields = [...h.fields];
  fields[9] = h.fields[10] ?? ''; // MSH-10 ← BHS-11
  fields[8] = '';
  return { ...h, fields };
}

function rejectAck(h: MshHeader, modes: AckModes, text: string, condition: ErrorCondition, now: Date): string {
  return buildAck({ original: h, code: modes.enhanced ? 'CR' : 'AR', text, condition, now });
}

export function createIngester(deps: IngestDeps): Ingester {
  const { store, metrics, tenant } = deps;
  const processor = createProcessor(deps);
  const grouped = deps.groupCommit === false ? undefined : createGroupedPath(deps, deps.groupCommit);

  /** Malformed: answered AR (CR in enhanced mode) and kept, status rejected, for inspection. */
  async function reject(raw: Buffer, h: MshHeader, modes: AckModes, source: IngestSource, err: HavenError, started: number): Promise<IngestResult> {
    const condition: ErrorCondition = err.code === 'HL7_CONTROL_ID_MISSING' ? 'requiredField' : 'dataType';
    const ack = rejectAck(h, modes, `${err.code}: ${err.message}`, condition, deps.clock.now());
    const id = randomUUID();
    try {
      await store.insert(tenant, {
        id, channel: source.channel, sender: `${firstComponent(h, 3)}^${firstComponent(h, 4)}`, status: 'rejected', raw, receivedAt: deps.clock.now(),
        patientKeys: [], ackCode: 'AR', ack, errorCode: err.code, error: err.message.slice(0, 2000),
        ...(firstComponent(h, 10) ? { controlId: firstComponent(h, 10) } : {}),
      });
    } catch {
      // The NAK still goes out: the sender must learn the message was refused.
    }
    metrics.inc('rejected', source.channel);
    return done(source, { ack, ackCode: 'AR', messageId: id, status: 'rejected', duplicate: false }, started);
  }

  function done(source: IngestSource, r: IngestResult, started: number): IngestResult {
    if (r.ack !== undefined) {
      metrics.inc('acked', source.channel, r.ackCode);
      metrics.observeAck(source.channel, (performance.now() - started) / 1000);
    }
    return r;
  }

  /** The database is not there: nothing stored (or nothing processed); the sender should resend. */
  function unavailable(h: MshHeader, modes: AckModes, source: IngestSource, started: number, messageId?: string): IngestResult {
    const ack = rejectAck(h, modes, 'Temporarily unable to store or process the message; resend it', 'locked', deps.clock.now());
    return done(source, { ack, ackCode: 'AR', status: 'received', duplicate: false, ...(messageId ? { messageId } : {}) }, started);
  }

  async function duplicate(existing: MessageMeta, message: Hl7Message, source: IngestSource, started: number): Promise<IngestResult> {
    metrics.inc('duplicates', source.channel);
    let p: Processed = { status: existing.status, ackCode: existing.ackCode ?? '', ack: existing.ack ?? '', already: true };
    // Stored but never finished (crash, outage): finish it now rather than answer with nothing.
    if (existing.status === 'received') {
      p = await processor.process(source.ctx, source.channel, { id: existing.id, message, sender: existing.sender, receivedAt: existing.receivedAt, from: ['received'] });
    }
    return done(source, { ack: p.ack, ackCode: p.ackCode, messageId: existing.id, status: p.status, duplicate: true }, started);
  }

  async function ingest(raw: Buffer, source: IngestSource): Promise<IngestResult> {
    const started = performance.now();
    metrics.inc('received', source.channel);
    const h = sniffHeader(raw.subarray(0, 4096).toString('latin1'));
    const modes = ackModes(h);
    let message: Hl7Message;
    try {
      message = deps.parse(raw);
      if (!message.controlId) throw new HavenError('incorrect', 'HL7_CONTROL_ID_MISSING', 'MSH-10 (message control id) is required');
    } catch (err) {
      const e = isHavenError(err) ? err : new HavenError('incorrect', 'HL7_MALFORMED', 'The message could not be parsed');
      return reject(raw, h, modes, source, e, started);
    }
    const input: ProcessInput = { id: randomUUID(), message, sender: senderOf(message), receivedAt: deps.clock.now(), from: ['received'] };
    // Original mode: the message, its FHIR result and its AA commit together, in a transaction shared with concurrent messages.
    if (grouped && !modes.enhanced) {
      const r = await grouped.ingest(raw, input, h, source.ctx, source.channel);
      if (r) return done(source, r, started);
    }
    return storeThenProcess(raw, input, h, modes, source, started);
  }

  /** The per-message path: stored `received` first (the commit ACK of enhanced mode needs it), then processed. */
  async function storeThenProcess(raw: Buffer, input: ProcessInput, h: MshHeader, modes: AckModes, source: IngestSource, started: number): Promise<IngestResult> {
    const { id, message, sender, receivedAt } = input;
    const pid = pidIdentifiers(message);
    try {
      const inserted = await store.insert(tenant, {
        id, channel: source.channel, sender, controlId: message.controlId, type: message.type.code, trigger: message.type.trigger,
        version: message.version, patientKeys: await Promise.all(searchForms(pid, []).map((v) => deps.blindIndex(tenant, v))),
        status: 'received', raw, receivedAt,
      });
      if (!inserted.inserted) return await duplicate(inserted.existing, message, source, started);
    } catch (err) {
      if (isHavenError(err) && err.category === 'unavailable') return unavailable(h, modes, source, started);
      throw err;
    }
    const run = () => processor.process(source.ctx, source.channel, input);
    if (modes.enhanced && wanted(modes.accept, true)) {
      // Commit acknowledgment now (the message is durable); the application result is stored with it.
      const ack = buildAck({ original: h, code: 'CA', now: deps.clock.now() });
      const pending = run().then(
        () => undefined,
        () => undefined, // stays `received`; recovery or a resend finishes it
      );
      return done(source, { ack, ackCode: 'CA', messageId: id, status: 'received', duplicate: false, pending }, started);
    }
    let p: Processed;
    try {
      p = await run();
    } catch (err) {
      if (isHavenError(err) && err.category === 'unavailable') return unavailable(h, modes, source, started, id);
      throw err;
    }
    const send = !modes.enhanced || wanted(modes.application, p.status === 'processed');
    return done(source, { ...(send ? { ack: p.ack } : {}), ackCode: p.ackCode, messageId: id, status: p.status, duplicate: p.already }, started);
  }

  async function reprocess(ctx: RequestContext, meta: MessageMeta, channel: string, from: ('received' | 'failed')[]): Promise<Processed> {
    const raw = await store.raw(tenant, meta.id);
    if (!raw) throw new HavenError('not-found', 'HL7_MESSAGE_NOT_FOUND', `HL7 v2 message ${meta.id} is not known`);
    let message: Hl7Message;
    try {
      message = deps.parse(raw);
    } catch (err) {
      throw isHavenError(err) ? err : new HavenError('fault', 'HL7_PROCESSING_FAULT', 'The stored message no longer parses');
    }
    return processor.process(ctx, channel, { id: meta.id, message, sender: meta.sender, receivedAt: meta.receivedAt, from });
  }

  async function batch(raw: Buffer, source: IngestSource): Promise<BatchOutcome> {
    try {
      return await ingestBatch(ingest, raw, source, deps.clock.now());
    } catch (err) {
      if (!isHavenError(err) || err.code !== 'HL7_MALFORMED') throw err;
      metrics.inc('received', source.channel);
      metrics.inc('rejected', source.channel);
      metrics.inc('acked', source.channel, 'AR');
      const ack = buildAck({ original: batchHeader(raw), code: 'AR', text: `${err.code}: ${err.message}`, condition: 'segmentSequence', now: deps.clock.now() });
      return { results: [], ack };
    }
  }

  return {
    ingest,
    ingestBatch: batch,
    async replay(ctx, id) {
      const meta = await store.get(tenant, id);
      if (!meta) throw new HavenError('not-found', 'HL7_MESSAGE_NOT_FOUND', `HL7 v2 message ${id} is not known`);
      if (meta.status !== 'failed' && meta.status !== 'received') {
        throw new HavenError('conflict', 'HL7_NOT_REPLAYABLE', `HL7 v2 message ${id} is ${meta.status}; only failed (dead-letter) messages are replayed`);
      }
      await store.countReplay(tenant, id);
      metrics.inc('replayed', meta.channel);
      return reprocess(ctx, meta, meta.channel, ['received', 'failed']);
    },
    async recover(ctx) {
      let count = 0;
      for (;;) {
        const ids = await store.idsWithStatus(tenant, 'received', 100);
        let progressed = 0;
        for (const id of ids) {
          const meta = await store.get(tenant, id);
          if (!meta || meta.status !== 'received') continue;
          const p = await reprocess(ctx, meta, meta.channel, ['received']);
          if (p.status !== 'received') progressed += 1;
        }
        count += progressed;
        if (ids.length < 100 || progressed === 0) return count;
      }
    },
  };
}
