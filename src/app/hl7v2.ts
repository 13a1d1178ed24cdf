import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { HavenConfig } from '../config/index.js';
import type { Keyring } from '../crypto/index.js';
import { type Clock, type Logger, type RequestContext, type TenantId } from '../kernel/index.js';
import type { BodyCodec, Db } from '../store/index.js';
import { parseMessage, type Hl7Converter } from '../hl7v2/index.js';
import { createHl7Converter } from '../hl7v2/convert/index.js';
import { createHl7Service, type ApplyTransaction, type Hl7Service, type GroupLimits, type MessageAudit, type MoveReferences, type ParseFn, type TxScope } from '../hl7v2/ingest/index.js';
import { createMllpListener } from '../hl7v2/mllp/index.js';
import type { MllpServer } from '../hl7v2/mllp/index.js';

/** What a caller (tests, the crash test's server) may replace: the parser and the converter. */
export interface Hl7Parts {
  parse?: ParseFn;
  converter?: Hl7Converter;
  /** Group commit of original-mode messages: its limits, or false for one transaction per message. */
  groupCommit?: Partial<GroupLimits> | false;
}

export interface Hl7Wiring {
  db: Db;
  txScope: TxScope;
  tenant: TenantId;
  baseUrl: string;
  codec: BodyCodec;
  keyring: Keyring | undefined;
  /** The transaction-Bundle processor of POST /fhir. */
  bundle(ctx: RequestContext, req: { method: 'POST'; path: string[]; query: [string, string][]; headers: Record<string, string | undefined>; body: unknown; baseUrl: string }): Promise<unknown>;
  /** Group-committed audit of a read (absent when audit is switched off in tests). */
  recordRead?: (ctx: RequestContext, facts: { action: 'read'; outcome: 'success'; resources: { type: string; id: string }[] }[]) => Promise<void>;
  clock: Clock;
  logger: Logger;
  parts?: Hl7Parts;
  /** Group-commit limits from the configuration; `parts.groupCommit` (embedding code, tests) wins over them. */
  groupLimits?: Partial<GroupLimits>;
  /** A40 merges: moves the retired patient's references (src/app/hl7v2-merge.ts). */
  moveReferences?: MoveReferences;
  /** The converter when `parts` gives none. */
  defaultConverter: Hl7Converter;
}

/**
 * The declarative converter, built on first use: loading and checking the
 * templates reads files, which a plain API node (or a test server) need not
 * do. `startServer` warms it when the MLLP role runs, so a bad template stops
 * the start instead of the first message.
 */
export function lazyConverter(create: () => Hl7Converter): Hl7Converter & { warm(): void } {
  let made: Hl7Converter | undefined;
  const get = () => (made ??= create());
  return { convert: (input) => get().convert(input), warm: () => void get() };
}

/**
 * Blind index of a patient identifier: HMAC-SHA-256 under the tenant's
 * `blind-index` data key, so the message store can be searched by patient
 * without holding identifiers in clear. Without encryption (test only) a hash.
 */
function blindIndexer(keyring: Keyring | undefined) {
  return async (tenant: string, value: string): Promise<string> => {
    if (!keyring) return createHash('sha256').update(`${tenant}|${value}`).digest('base64url');
    return keyring.withActiveKey(tenant, 'blind-index', (key) => createHmac('sha256', key).update(`hl7v2-patient|${value}`).digest('base64url'));
  };
}

export function buildHl7(w: Hl7Wiring): Hl7Service {
  const fhirBase = `${w.baseUrl}/fhir`;
  const applyTransaction: ApplyTransaction = (ctx, bundle, hooks) =>
    w.txScope.run(hooks, () => w.bundle(ctx, { method: 'POST', path: [], query: [], headers: { 'content-type': 'application/fhir+json' }, body: bundle, baseUrl: fhirBase }));
  const audit: MessageAudit = {
    async read(ctx, messageId) {
      await w.recordRead?.(ctx, [{ action: 'read', outcome: 'success', resources: [{ type: 'Hl7v2Message', id: messageId }] }]);
    },
  };
  return createHl7Service({
    db: w.db,
    tenant: w.tenant,
    codec: w.codec,
    parse: w.parts?.parse ?? parseMessage,
    converter: w.parts?.converter ?? w.defaultConverter,
    applyTransaction,
    ...(w.moveReferences ? { moveReferences: w.moveReferences } : {}),
    ...(w.parts?.groupCommit !== undefined ? { groupCommit: w.parts.groupCommit } : w.groupLimits ? { groupCommit: w.groupLimits } : {}),
    blindIndex: blindIndexer(w.keyring),
    audit,
    clock: w.clock,
    logger: w.logger,
  });
}

export function defaultConverter(templatesDir: string | undefined): Hl7Converter & { warm(): void } {
  return lazyConverter(() => createHl7Converter(templatesDir ? { templatesDir } : {}));
}

/** The MLLP listener of role `mllp`, from the configuration. */
export function buildMllpListener(config: HavenConfig, hl7: Hl7Service, tenant: TenantId, logger: Logger): MllpServer {
  const m = config.mllp;
  const tls = m.tlsCert && m.tlsKey ? { cert: readFileSync(m.tlsCert), key: readFileSync(m.tlsKey), ...(m.tlsCa ? { ca: readFileSync(m.tlsCa) } : {}) } : undefined;
  return createMllpListener({
    host: m.host,
    port: m.port,
    maxMessageBytes: m.maxMessageBytes,
    idleTimeoutMs: m.idleTimeoutMs,
    ...(tls ? { tls } : {}),
    tenant,
    ingester: hl7.ingester,
    metrics: hl7.metrics,
    logger: logger.child({ component: 'mllp' }),
  });
}
