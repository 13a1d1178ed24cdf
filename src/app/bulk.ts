import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { AuditService } from '../audit/index.js';
import { createBulkService, type BulkService } from '../bulk/index.js';
import type { HavenConfig } from '../config/index.js';
import { createBlindIndexer, type Keyring } from '../crypto/index.js';
import type { FhirDefinitions } from '../fhir/index.js';
import { normalizeString } from '../fhir/index.js';
import { createExportKickoff, createImportKickoff } from '../http/fhir/bulk-kickoff.js';
import type { FhirDeps } from '../http/fhir/deps.js';
import { createEverything } from '../http/fhir/everything.js';
import type { RouterOptions } from '../http/fhir/router.js';
import type { Clock, Issue, Logger } from '../kernel/index.js';
import { createLocalBlobStore, ephemeralSealer, keyringSealer } from '../store/blob-store.js';
import type { BodyCodec, Db, ResourceStore } from '../store/index.js';
import { createJobQueue } from '../store/jobs.js';
import { parseProtectedParams } from '../search/index.js';

export interface BulkParts {
  config: HavenConfig;
  db: Db;
  store: ResourceStore;
  codec: BodyCodec;
  keyring: Keyring | undefined;
  audit: AuditService['recorder'] | undefined;
  fhir: FhirDefinitions;
  /** Validation of imported resources; absent when validation on write is off. */
  validate: ((resource: unknown) => Issue[]) | undefined;
  clock: Clock;
  logger: Logger;
}

/** Bulk Data export: blob store (encrypted), durable queue, service, and the FHIR operations that use them. */
export function buildBulk(p: BulkParts): { service: BulkService; operations: (deps: FhirDeps) => NonNullable<RouterOptions['operations']> } {
  const blobs = createLocalBlobStore({
    dir: p.config.blobDir ?? join(resolve(p.config.dataDir), 'blobs'),
    // Encryption off (HAVEN_ENV=test only) still never writes plaintext blobs: a per-process key.
    sealer: p.keyring ? keyringSealer(p.keyring) : ephemeralSealer(),
  });
  const service = createBulkService({
    db: p.db,
    store: p.store,
    codec: p.codec,
    queue: createJobQueue(p.db),
    blobs,
    audit: p.audit,
    fhir: p.fhir,
    ...(p.validate ? { validate: p.validate } : {}),
    chunkSql: {
      registry: p.fhir.registry, normalize: normalizeString, patientParams: (t) => p.fhir.compartments.paramsFor('Patient', t),
      // _typeFilter on protected parameters matches blind-index tags, like search (docs/security/encryption.md).
      ...(p.keyring ? { blind: { indexer: createBlindIndexer(p.keyring), policy: parseProtectedParams(p.config.kms.blindIndexParams) } } : {}),
    },
    clock: p.clock,
    logger: p.logger.child({ component: 'bulk' }),
    // 1,000 rows a page: half the page queries of 500 at 1M resources; two pages per worker stay a few MB.
    settings: { ...p.config.bulk, pageSize: 1000, maxAttempts: 5, retryAfterSeconds: 1 },
    node: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
  });
  const everything = createEverything({ compartments: p.fhir.compartments, defaultCount: p.config.fhir.defaultPageSize, maxCount: p.config.fhir.maxPageSize });
  const kickoff = createExportKickoff(service);
  const importKickoff = createImportKickoff(service);
  return { service, operations: (deps) => ({ export: kickoff, import: importKickoff, everything: (ctx, req) => everything(deps, ctx, req) }) };
}
