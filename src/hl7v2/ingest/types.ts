import type { Clock, Logger, RequestContext, TenantId } from '../../kernel/index.js';
import type { Db, Queryable, StoreTransaction } from '../../store/index.js';
import type { ConversionResult, Hl7Converter, Hl7Message } from '../model.js';
import type { MessageStore } from './message-store.js';
import type { Hl7Metrics } from './metrics.js';

/** The parser (src/hl7v2/parse.ts): throws HavenError HL7_MALFORMED / HL7_CHARSET_UNSUPPORTED. */
export type ParseFn = (input: Buffer | string) => Hl7Message;

/** Work run inside the FHIR transaction's database transaction, before and after its writes. */
export interface TxHooks {
  before(tx: Queryable): Promise<void>;
  /** `stx`: the Bundle's store transaction (same database transaction), for further resource writes. */
  after(tx: Queryable, stx?: StoreTransaction): Promise<void>;
}

/**
 * A40-style merge: moves the references of the retired patient's resources to
 * the survivor, inside the message's transaction. Injected by the composition
 * root (it needs search); without it, merges only apply the converter's Bundle.
 */
export type MoveReferences = (ctx: RequestContext, stx: StoreTransaction, merge: { survivor: string; retired: string }) => Promise<void>;

/**
 * Applies a transaction Bundle exactly like `POST /fhir` (validation,
 * conditional references, index rows, encryption, audit entry) in one database
 * transaction, running `hooks` inside that same transaction. Injected by the
 * composition root.
 */
export type ApplyTransaction = (ctx: RequestContext, bundle: ConversionResult['bundle'], hooks: TxHooks) => Promise<unknown>;

/** Audit of message-store access that does not go through the resource store. */
export interface MessageAudit {
  /** A stored message was disclosed (API read); resolves once the entry is durable, throws when it cannot be. */
  read(ctx: RequestContext, messageId: string, patients: string[]): Promise<void>;
}

/** Limits of one shared transaction of original-mode messages (grouped.ts). */
export interface GroupLimits {
  /** Messages in one transaction. */
  maxMessages: number;
  /** Bundle entries in one transaction (the messages' resources together). */
  maxEntries: number;
  /** Transactions being written at once. */
  maxInFlight: number;
}

export interface IngestDeps {
  db: Db;
  tenant: TenantId;
  store: MessageStore;
  parse: ParseFn;
  converter: Hl7Converter;
  applyTransaction: ApplyTransaction;
  moveReferences?: MoveReferences;
  /** Keyed HMAC of a patient identifier, for searchable metadata without plaintext. */
  blindIndex(tenant: string, value: string): Promise<string>;
  metrics: Hl7Metrics;
  /** Group commit of original-mode messages (grouped.ts): limits other than the defaults, or false for one transaction per message. */
  groupCommit?: Partial<GroupLimits> | false;
  clock: Clock;
  logger: Logger;
}

/** Where a message came from. */
export interface IngestSource {
  /** Metrics label and stored channel: 'mllp' or 'http'. */
  channel: string;
  /** Whose authority the FHIR writes run under. */
  ctx: RequestContext;
}

export interface IngestResult {
  /** The acknowledgment to send now; undefined when the sender asked for none (enhanced mode, NE). */
  ack?: string;
  /** MSA-1 of `ack` or of the application acknowledgment stored. */
  ackCode: string;
  messageId?: string;
  status: 'received' | 'processed' | 'failed' | 'rejected';
  duplicate: boolean;
  /** Enhanced mode: processing that continues after the commit acknowledgment (per-connection order). */
  pending?: Promise<void>;
}
