import { HavenError, isHavenError, type RequestContext } from '../../kernel/index.js';
import type { Queryable, StoreTransaction } from '../../store/index.js';
import type { Hl7Message } from '../model.js';
import { buildAck, sniffHeader, type ErrorCondition } from './ack.js';
import type { MessageMeta, MessageStatus } from './message-store.js';
import { pidIdentifiers, searchForms } from './patient-keys.js';
import { advanceClocks, clockOf, demote, StaleUpdates, withoutEntries, type MessageClock } from './stale-guard.js';
import type { IngestDeps } from './types.js';

/** The outcome of processing one stored message. */
export interface Processed {
  status: MessageStatus;
  ackCode: string;
  ack: string;
  /** True when another attempt had already finished it (duplicate, concurrent replay). */
  already: boolean;
}

/** Raised inside the transaction when the row is no longer waiting: rolls back, nothing written. */
class AlreadyDone extends Error {
  constructor(readonly status: MessageStatus | undefined) {
    super('message already processed');
  }
}

// Namespace of the per-patient ordering lock (pg_advisory_xact_lock(int, int)).
export const PATIENT_LOCK_SPACE = 7_421_008;

const conditionFor: Record<string, ErrorCondition> = {
  HL7_NO_TEMPLATE: 'unsupportedType',
  HL7_MALFORMED: 'dataType',
  HL7_CHARSET_UNSUPPORTED: 'dataType',
};

export interface ProcessInput {
  id: string;
  message: Hl7Message;
  sender: string;
  receivedAt: Date;
  /** Statuses this attempt may move to processed: 'received', plus 'failed' for a replay. */
  from: MessageStatus[];
}

export function createProcessor(deps: IngestDeps) {
  const { store, metrics, tenant } = deps;

  async function keysOf(identifiers: string[]): Promise<string[]> {
    return Promise.all(identifiers.map((v) => deps.blindIndex(tenant, v)));
  }

  async function finished(id: string): Promise<Processed> {
    const meta = await store.get(tenant, id);
    return { status: meta?.status ?? 'received', ackCode: meta?.ackCode ?? 'AR', ack: meta?.ack ?? '', already: true };
  }

  async function fail(input: ProcessInput, channel: string, err: HavenError, pid: string[]): Promise<Processed> {
    const header = sniffHeader(input.message.segments[0]?.raw ?? '');
    const reason = reasonOf(err);
    const ack = buildAck({ original: header, code: 'AE', text: reason, condition: conditionFor[err.code] ?? 'internal', now: deps.clock.now() });
    await store.markFailed(tenant, input.id, { ack, errorCode: err.code, error: reason.slice(0, 2000), patientKeys: await keysOf(searchForms(pid, [])), now: deps.clock.now() });
    metrics.inc('failed', channel);
    return { status: 'failed', ackCode: 'AE', ack, already: false };
  }

  /**
   * Converts and applies one stored message. The FHIR writes, the status
   * change and the AA text commit in ONE transaction, under a row lock on the
   * message and an advisory lock on its patient: a crash leaves the message
   * `received` with nothing written, and two attempts never both apply it.
   */
  async function process(ctx: RequestContext, channel: string, input: ProcessInput): Promise<Processed> {
    const pid = pidIdentifiers(input.message);
    let result;
    try {
      result = deps.converter.convert({ message: input.message, messageId: input.id, sender: input.sender, receivedAt: input.receivedAt });
    } catch (err) {
      return fail(input, channel, asProcessingError(err, deps), pid);
    }
    const header = sniffHeader(input.message.segments[0]?.raw ?? '');
    const ack = buildAck({ original: header, code: 'AA', now: deps.clock.now() });
    const patientKeys = await keysOf(searchForms(pid, result.patientIdentifiers));
    const lockKey = pid[0] ?? result.patientIdentifiers[0];
    let bundle = result.bundle;
    let clock = await clockOf(result, input.id, (url) => entryKey(deps, url));
    // Each round either commits or demotes at least one more update to a create, so it ends.
    for (;;) {
      const clocks: MessageClock[] = clock ? [clock] : [];
      try {
        await deps.applyTransaction(ctx, bundle, {
          before: async (tx: Queryable) => {
            const status = await lockMessageAndPatient(tx, tenant, input, lockKey);
            if (status === undefined || !input.from.includes(status)) throw new AlreadyDone(status);
            const stale = await advanceClocks(tx, tenant, clocks);
            if (stale.size > 0) throw new StaleUpdates(stale);
          },
          after: async (tx: Queryable, stx?: StoreTransaction) => {
            if (result.merge && deps.moveReferences) {
              if (!stx) throw new HavenError('fault', 'HL7_PROCESSING_FAULT', 'Merge without the store transaction');
              await deps.moveReferences(ctx, stx, result.merge);
            }
            await store.markProcessed(tx, tenant, input.id, { ack, patientKeys, now: deps.clock.now() });
          },
        });
      } catch (err) {
        if (err instanceof StaleUpdates) {
          const indexes = err.stale.get(input.id) ?? [];
          if (indexes.length === 0) return fail(input, channel, asProcessingError(err, deps), pid);
          noteStale(channel, input.id, indexes.length);
          bundle = demote(bundle, indexes);
          clock = withoutEntries(clock, indexes);
          continue;
        }
        if (err instanceof AlreadyDone) return finished(input.id);
        if (isHavenError(err) && err.category === 'unavailable') throw err; // stays `received`: retried, never dead-lettered
        return fail(input, channel, asProcessingError(err, deps), pid);
      }
      return { status: 'processed', ackCode: 'AA', ack, already: false };
    }
  }

  /** Counts and logs updates left out as older than the stored data (ids and counts only). */
  function noteStale(channel: string, messageId: string, count: number): void {
    for (let i = 0; i < count; i++) metrics.inc('stale_updates', channel);
    deps.logger.warn({ messageId, updatesSkipped: count }, 'HL7 v2 message older than the data it updates: those resources were left as newer messages made them');
  }

  return { process, finished };
}

/** The keyed hash a resource's clock is stored under (no identifier in clear). */
export function entryKey(deps: Pick<IngestDeps, 'blindIndex' | 'tenant'>, url: string): Promise<string> {
  return deps.blindIndex(deps.tenant, `entry-clock|${url}`);
}

/**
 * The message row lock, then, only when this attempt may process it, the
 * patient's ordering lock: one round trip where `store.lock` and a second
 * statement took two. The MATERIALIZED CTE locks the row before the outer
 * select runs, so the order (row, then patient) is the one two attempts of
 * one message always take, as before.
 */
async function lockMessageAndPatient(tx: Queryable, tenant: string, input: ProcessInput, lockKey: string | undefined): Promise<MessageStatus | undefined> {
  const res = await tx.query<{ status: MessageStatus }>(
    {
      name: 'hl7v2.lock-message-patient',
      text: `WITH m AS MATERIALIZED (SELECT status FROM hl7v2_message WHERE tenant_id = $1 AND id = $2 FOR UPDATE)
             SELECT m.status, CASE WHEN $4::text IS NOT NULL AND m.status = ANY($5::text[])
               THEN pg_advisory_xact_lock($3::int, hashtext($4::text)) END AS patient_locked FROM m`,
    },
    [tenant, input.id, PATIENT_LOCK_SPACE, lockKey === undefined ? null : `${tenant}|${lockKey}`, input.from],
  );
  return res.rows[0]?.status;
}

/**
 * The reason sent in the AE and kept in the message row's `error` column, which is not encrypted.
 * Validation diagnostics quote the offending value (a birth date, a name): for those only the
 * issue's kind and FHIRPath location are kept — the value is in the encrypted message. The
 * converter's own reasons name fields, not values. A NUL (from wherever) never reaches a text column.
 */
export function reasonOf(err: HavenError): string {
  if (err.code === 'VALIDATION_FAILED') {
    const issue = err.issues[0];
    const where = issue?.expression?.[0] ?? 'an element';
    return `${err.code}: a converted resource is invalid (${issue?.code ?? 'invalid'} at ${where}); the template or the message must change`;
  }
  return `${err.code}: ${err.message}`.replaceAll('\u0000', '\\0');
}

/** Anything not a HavenError is a fault: logged by class only, answered with a generic reason. */
function asProcessingError(err: unknown, deps: IngestDeps): HavenError {
  if (isHavenError(err)) return err;
  deps.logger.error({ err: err instanceof Error ? err.name : typeof err }, 'HL7 v2 processing fault');
  return new HavenError('fault', 'HL7_PROCESSING_FAULT', 'Internal error while processing the message; it is kept in the dead-letter store for replay');
}

export type Processor = ReturnType<typeof createProcessor>;

export function isWaiting(meta: MessageMeta): boolean {
  return meta.status === 'received';
}
