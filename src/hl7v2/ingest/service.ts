import type { Clock, Logger, TenantId } from '../../kernel/index.js';
import type { BodyCodec, Db } from '../../store/index.js';
import type { Hl7Converter } from '../model.js';
import { createHl7Api, type Hl7Api } from './api.js';
import { createIngester, type Ingester } from './ingester.js';
import { createMessageStore, type MessageStore } from './message-store.js';
import { createHl7Metrics, type Hl7Metrics } from './metrics.js';
import type { ApplyTransaction, GroupLimits, MessageAudit, MoveReferences, ParseFn } from './types.js';

export interface Hl7ServiceDeps {
  db: Db;
  tenant: TenantId;
  /** The resource body codec (envelope encryption), reused for message bodies. */
  codec: BodyCodec;
  parse: ParseFn;
  converter: Hl7Converter;
  applyTransaction: ApplyTransaction;
  moveReferences?: MoveReferences;
  blindIndex(tenant: string, value: string): Promise<string>;
  audit: MessageAudit;
  /** Group commit limits of original-mode messages, or false for one transaction per message (default: on). */
  groupCommit?: Partial<GroupLimits> | false;
  clock: Clock;
  logger: Logger;
}

export interface Hl7Service {
  ingester: Ingester;
  api: Hl7Api;
  metrics: Hl7Metrics;
  store: MessageStore;
}

/** The HL7 v2 ingestion service: message store, pipeline, API and metrics (listener: src/hl7v2/mllp). */
export function createHl7Service(deps: Hl7ServiceDeps): Hl7Service {
  const store = createMessageStore(deps.db, deps.codec);
  const metrics = createHl7Metrics();
  const ingester = createIngester({ ...deps, store, metrics, logger: deps.logger.child({ component: 'hl7v2' }) });
  const api = createHl7Api({ tenant: deps.tenant, store, ingester, audit: deps.audit, blindIndex: deps.blindIndex });
  return { ingester, api, metrics, store };
}
