import type { AuditService } from '../audit/index.js';
import type { Compartments } from '../fhir/index.js';
import type { Clock, Issue, Logger } from '../kernel/index.js';
import type { BlobStore } from '../store/blob-store.js';
import type { BodyCodec, Db, ResourceStore } from '../store/index.js';
import type { JobQueue } from '../store/jobs.js';
import type { ChunkSqlContext } from './export-conditions.js';
import type { BulkSettings } from './model.js';

/** What the bulk service needs; built by the composition root (src/app). */
export interface BulkDeps {
  db: Db;
  store: ResourceStore;
  /**
   * The store's body codec: export reads decode rows with it directly rather
   * than through the store's afterRead hook, because an export is audited
   * once per output file (naming its patients), not once per page.
   */
  codec: BodyCodec;
  queue: JobQueue;
  blobs: BlobStore;
  /** Absent only when auditing is switched off (HAVEN_ENV=test). */
  audit: AuditService['recorder'] | undefined;
  fhir: {
    resourceTypes: ReadonlySet<string>;
    isResourceType(type: string): boolean;
    compartments: Compartments;
    applyElements<T extends object>(resource: T, elements: readonly string[]): T;
  };
  chunkSql: ChunkSqlContext;
  /** Validation of imported resources (absent when HAVEN_VALIDATE_ON_WRITE=false). */
  validate?: (resource: unknown) => Issue[];
  clock: Clock;
  logger: Logger;
  settings: BulkSettings;
  /** This node's name, as lease owner. */
  node: string;
  /** Wakes the local workers (new work was queued). */
  nudge(): void;
}
