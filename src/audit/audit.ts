import { HavenError, type Clock, type Logger, type RequestContext } from '../kernel/index.js';
import type { Db, StoreHooks } from '../store/index.js';
import { createAuditHttpHooks, type AuditHttpHooks } from './http-hooks.js';
import { consistency, inclusion, newestHead, parseCount, requireAuditReader, requireCount } from './proof-service.js';
import { toAuditEvent } from './audit-event.js';
import { disclosureReport, type DisclosureReport } from './disclosures.js';
import { compileAuditSearch, runAuditSearch, type AuditSearchPage } from './query.js';
import { createAuditRecorder, describeFailure, type AuditRecorder } from './recorder.js';
import { createSequencer, type Sequencer } from './sequencer.js';
import type { AuditSettings } from './settings.js';
import type { Keyring, Kms } from '../crypto/index.js';
import { createAuditEntryCrypto, openWithoutKeys, type AuditEntryCrypto } from './entry-crypto.js';
import type { StoredAuditEntry } from './audit-event.js';
import { createS3Witness, type S3WitnessSettings } from './witness-s3.js';
import { auditStoreHooks } from './store-hooks.js';

/** The audit API routes (GET /audit/…), framework-neutral. */
export interface AuditApi {
  treeHead(ctx: RequestContext): Promise<object>;
  inclusion(ctx: RequestContext, query: Record<string, string | undefined>): Promise<object>;
  consistency(ctx: RequestContext, query: Record<string, string | undefined>): Promise<object>;
  /** `GET /fhir/AuditEvent?…`: the log as AuditEvents (auditors only; the access is itself audited). */
  searchEvents(ctx: RequestContext, query: [string, string][]): Promise<AuditSearchPage>;
  /** `GET /fhir/AuditEvent/{entryId}`. */
  readEvent(ctx: RequestContext, id: string): Promise<Record<string, unknown>>;
  /** Accounting of disclosures for one patient (`Patient/{id}/$disclosures`, `haven audit report`). */
  disclosures(ctx: RequestContext, patientId: string, query: { since?: string; until?: string }): Promise<DisclosureReport>;
}

export interface AuditService {
  recorder: AuditRecorder;
  http: AuditHttpHooks;
  api: AuditApi;
  sequencer: Sequencer;
  /** Registers the store hooks: in-transaction entries for writes, group-committed entries for reads. */
  attach(hooks: StoreHooks): void;
}

export interface AuditDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
  settings: AuditSettings;
  /** The KMS that wraps the tree-head signing key (the one that wraps DEKs); absent only with encryption off. */
  kms?: Kms;
  /** The data keys: entries are sealed as v2 under the tenant's audit key; absent only with encryption off (entries stay v1). */
  keyring?: Keyring;
  /** The S3 witness (s3WitnessSettings(config.audit)); undefined when not configured. */
  witnessS3?: S3WitnessSettings;
}

export function createAuditService(deps: AuditDeps): AuditService {
  const { db, clock, settings } = deps;
  const logger = deps.logger.child({ component: 'audit' });
  const crypto = deps.keyring ? createAuditEntryCrypto(deps.keyring) : undefined;
  const recorder = createAuditRecorder({ db, clock, logger, node: settings.nodeId, timeoutMs: settings.timeoutMs, ...(crypto ? { crypto } : {}) });
  const search = async (tenant: string, query: [string, string][], applied: [string, string][]) => {
    const compiled = crypto ? await crypto.withTagger(tenant, (tag) => compileAuditSearch(tenant, query, tag)) : compileAuditSearch(tenant, query);
    const page = await runAuditSearch(db, compiled, applied);
    return { ...page, entries: await openEntries(crypto, page.entries) };
  };
  const sequencer = createSequencer({
    db, clock, logger, witnessPath: settings.witnessPath, intervalMs: settings.headIntervalMs,
    ...(deps.kms ? { kms: deps.kms } : {}),
    ...(deps.witnessS3 ? { s3Witness: createS3Witness(deps.witnessS3, logger) } : {}),
  });
  const http = createAuditHttpHooks(recorder, (err) => logger.error({ err: describeFailure(err) }, 'audit entry for a failed request was lost'));
  const api: AuditApi = {
    async treeHead(ctx) {
      requireAuditReader(ctx.principal);
      return newestHead(db);
    },
    async inclusion(ctx, query) {
      requireAuditReader(ctx.principal);
      return inclusion(db, requireCount(query['seq'], 'seq', 0), parseCount(query['treeSize'], 'treeSize', 1));
    },
    async consistency(ctx, query) {
      requireAuditReader(ctx.principal);
      return consistency(db, requireCount(query['from'], 'from', 1), parseCount(query['to'], 'to', 1));
    },
    async searchEvents(ctx, query) {
      requireAuditReader(ctx.principal);
      return search(ctx.tenant, query, query);
    },
    async readEvent(ctx, id) {
      requireAuditReader(ctx.principal);
      const page = /^\d{1,15}$/.test(id) ? await search(ctx.tenant, [['_id', id]], []) : undefined;
      const found = page?.entries[0];
      if (!found) throw new HavenError('not-found', 'RESOURCE_NOT_FOUND', `AuditEvent/${id} does not exist`);
      return toAuditEvent(found);
    },
    async disclosures(ctx, patientId, query) {
      requireAuditReader(ctx.principal);
      return disclosureReport(db, { tenant: ctx.tenant, patientId, now: clock.now(), ...query }, crypto);
    },
  };
  return {
    recorder,
    http,
    api,
    sequencer,
    attach(hooks) {
      const store = auditStoreHooks(recorder);
      hooks.afterWrite.push(store.afterWrite);
      hooks.afterRead.push(store.afterRead);
    },
  };
}

/** Entries as auditors read them: v2 details decrypted (or marked unavailable). */
export function openEntries(crypto: AuditEntryCrypto | undefined, entries: StoredAuditEntry[]): Promise<StoredAuditEntry[]> | StoredAuditEntry[] {
  return crypto ? crypto.open(entries) : openWithoutKeys(entries);
}
