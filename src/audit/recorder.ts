import { HavenError, isHavenError, type Clock, type Logger } from '../kernel/index.js';
import type { Db, Queryable } from '../store/index.js';
import type { AuditedContext, EntryFacts, EntryRow } from './entry.js';
import { entryOf, toRow } from './entry.js';
import type { AuditEntryCrypto } from './entry-crypto.js';
import { createGroupCommit } from './group-commit.js';
import { insertEntries } from './insert.js';
import { isPatientReference, redactedEntry } from './sealed-entry.js';

export interface RecorderOptions {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** Node id recorded as "where". */
  node: string;
  /** An audit insert that takes longer fails the request (503) instead of hanging it. */
  timeoutMs: number;
  /** Seals entries as v2 under the tenant's audit key; absent only with encryption off (entries stay v1). */
  crypto?: AuditEntryCrypto;
}

export interface AuditRecorder {
  /** Appends entries inside the caller's write transaction (same commit as the change). */
  inTransaction(ctx: AuditedContext, tx: Queryable, facts: EntryFacts[]): Promise<void>;
  /** Appends entries through group commit; resolves once they are durable. */
  record(ctx: AuditedContext, facts: EntryFacts[]): Promise<void>;
  readonly batches: number;
}

/** Fail closed: any failure to make an entry durable becomes a 503 for the PHI request. */
function unavailable(err: unknown): HavenError {
  return new HavenError('unavailable', 'AUDIT_UNAVAILABLE', 'The audit log cannot record this access; nothing was returned or changed. Try again shortly', { cause: err });
}

export function createAuditRecorder(options: RecorderOptions): AuditRecorder {
  const { db, clock, node, timeoutMs, crypto } = options;
  // Sealed per call (one request's entries, one tenant) with the key ring's cached keys: the
  // keys are looked up once per call, not per entry, and a missing key fails the request closed.
  const rowsOf = async (ctx: AuditedContext, facts: EntryFacts[]): Promise<EntryRow[]> => {
    const now = clock.now();
    const entries = facts.map((f) => entryOf(ctx, node, now, f));
    if (!crypto || entries.length === 0) return entries.map(toRow);
    const fhirUser = (ctx.principal as { fhirUser?: unknown }).fhirUser;
    const patientSubject = typeof fhirUser === 'string' && isPatientReference(fhirUser);
    try {
      return (await crypto.seal(ctx.tenant, entries, patientSubject)).map(toRow);
    } catch (err) {
      // A crypto-shredded tenant has no keys: its requests (all refused) are still recorded, without their PHI.
      if (isHavenError(err) && err.code === 'CRYPTO_TENANT_SHREDDED') return entries.map((e) => toRow(redactedEntry(e, patientSubject)));
      throw err;
    }
  };
  // One autocommit statement per batch (one round trip, one commit); the wait is bounded here
  // rather than by SET LOCAL, which would cost three more round trips per batch.
  // One batch in flight, cut at the end of an event-loop turn (group-commit.ts): every batch costs
  // a statement, index and queue rows, a WAL flush and sequencer rows whatever its size, so the
  // fewer and fuller the batches the less CPU per read (~450-500 µs of PostgreSQL CPU per batch, most
  // of it the commit). Read-by-id at c16 (2 cores, loaded, A/B): first-arrival flushing with 2 in
  // flight gave ~3 entries per batch; end-of-turn with 2 in flight ~5.5, with 1 in flight ~7 and
  // fewer statements per read; CPU per read 1 vs 2 in flight was within the noise
  // (bench/results/audit-reads-2026-11-29*.json).
  // On the control connections (Db.control): a read inside a write transaction (a conditional
  // create's search) waits for its entry, and from the main pool that entry could wait for a
  // connection only such transactions hold.
  const group = createGroupCommit({ flush: (rows) => withTimeout(insertEntries(db.control, rows), timeoutMs), maxInFlight: 1 });
  return {
    async inTransaction(ctx, tx, facts) {
      let rows: EntryRow[];
      try {
        rows = await rowsOf(ctx, facts);
        // Bounded wait: a locked or missing audit table must fail the write, not hang it.
        await tx.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
        await insertEntries(tx, rows);
      } catch (err) {
        options.logger.error({ requestId: ctx.requestId, err: describeFailure(err) }, 'audit entry could not be written; write refused');
        throw unavailable(err);
      }
      if (ctx.audit) ctx.audit.recorded += rows.length;
    },
    async record(ctx, facts) {
      let rows: EntryRow[];
      try {
        rows = await rowsOf(ctx, facts);
        await group.record(rows);
      } catch (err) {
        options.logger.error({ requestId: ctx.requestId, err: describeFailure(err) }, 'audit entry could not be written; response withheld');
        throw unavailable(err);
      }
      if (ctx.audit) ctx.audit.recorded += rows.length;
    },
    get batches() {
      return group.batches;
    },
  };
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`audit insert took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

// Driver messages name tables and SQL states, never row values; keep only those.
/**
 * What may be logged about a failure on the audit path: its name and code.
 * Driver messages can quote the values of the statement (patient ids), so
 * they never reach the log.
 */
export function describeFailure(err: unknown): string {
  const e = err as { name?: string; code?: string };
  return [e.name ?? typeof err, e.code].filter(Boolean).join(' ');
}
