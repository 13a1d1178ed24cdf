import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FhirDefinitions } from '../fhir/index.js';
import { createReindexOperation } from '../http/fhir/reindex-operation.js';
import { HavenError, type Logger, type RequestContext, type TenantId } from '../kernel/index.js';
import { createReindexService, type ReindexSettings } from '../reindex/index.js';
import type { BodyCodec, Db, IndexWriter, StoreHooks } from '../store/index.js';
import { createJobQueue } from '../store/jobs.js';

export interface ReindexParts {
  db: Db;
  fhir: FhirDefinitions;
  codec: BodyCodec;
  indexWriter: IndexWriter;
  hooks: StoreHooks;
  tenant: TenantId;
  logger: Logger;
  /** Whether the caller may start and watch reindex jobs (system-wide write access). */
  mayReindex: (ctx: RequestContext) => boolean;
  settings?: Partial<ReindexSettings>;
}

export const defaultReindexSettings: ReindexSettings = { batchSize: 500, leaseSeconds: 60, maxAttempts: 5, workers: 1, ttlMs: 1000 };

/** Custom SearchParameters (hooks on the store), reindex workers and the `$reindex` operation. */
export function buildReindex(p: ReindexParts) {
  const service = createReindexService({
    db: p.db,
    queue: createJobQueue(p.db),
    codec: p.codec,
    indexWriter: p.indexWriter,
    registry: p.fhir.registry,
    resourceTypes: p.fhir.resourceTypes,
    extract: (r, container) => p.fhir.indexer.extract(r, container),
    tenant: p.tenant,
    logger: p.logger.child({ component: 'reindex' }),
    settings: { ...defaultReindexSettings, ...p.settings },
    node: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
  });
  service.attach(p.hooks);
  const operation = createReindexOperation(service, (ctx) => {
    if (!p.mayReindex(ctx)) throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', '$reindex needs a system/*.u (or *.write) scope');
  });
  return { service, operation };
}
