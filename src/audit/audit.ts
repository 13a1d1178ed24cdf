import type { Clock, Logger, RequestContext } from '../kernel/index.js';
import type { Db, StoreHooks } from '../store/index.js';
import { createAuditHttpHooks, type AuditHttpHooks } from './http-hooks.js';
import { consistency, headAt, inclusion, parseCount, requireAuditReader, requireCount } from './proof-service.js';
import { createAuditRecorder, describeFailure, type AuditRecorder } from './recorder.js';
import { createSequencer, type Sequencer } from './sequencer.js';
import type { AuditSettings } from './settings.js';
import { auditStoreHooks } from './store-hooks.js';

/** The audit API routes (GET /audit/…), framework-neutral. */
export interface AuditApi {
  treeHead(ctx: RequestContext): Promise<object>;
  inclusion(ctx: RequestContext, query: Record<string, string | undefined>): Promise<object>;
  consistency(ctx: RequestContext, query: Record<string, string | undefined>): Promise<object>;
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
}

export function createAuditService(deps: AuditDeps): AuditService {
  const { db, clock, settings } = deps;
  const logger = deps.logger.child({ component: 'audit' });
  const recorder = createAuditRecorder({ db, clock, logger, node: settings.nodeId, timeoutMs: settings.timeoutMs });
  const sequencer = createSequencer({ db, clock, logger, witnessPath: settings.witnessPath, intervalMs: settings.headIntervalMs });
  const http = createAuditHttpHooks(recorder, (err) => logger.error({ err: describeFailure(err) }, 'audit entry for a failed request was lost'));
  const api: AuditApi = {
    async treeHead(ctx) {
      requireAuditReader(ctx.principal);
      return headAt(db);
    },
    async inclusion(ctx, query) {
      requireAuditReader(ctx.principal);
      return inclusion(db, requireCount(query['seq'], 'seq', 0), parseCount(query['treeSize'], 'treeSize', 1));
    },
    async consistency(ctx, query) {
      requireAuditReader(ctx.principal);
      return consistency(db, requireCount(query['from'], 'from', 1), parseCount(query['to'], 'to', 1));
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
