import type { HavenSearchParamRegistry } from '../fhir/index.js';
import type { IndexValue } from '../fhir/index-values.js';
import type { Logger } from '../kernel/index.js';
import type { BodyCodec, Db, IndexWriter } from '../store/index.js';
import type { JobQueue } from '../store/jobs.js';

/** One queue per tenant: a node's custom-parameter layer belongs to its tenant, so it only takes that tenant's tasks. */
export const reindexQueue = (tenant: string): string => `reindex:${tenant}`;

/** One task per resource type of a job; where it stands is in reindex_cursor, so a retried task resumes. */
export interface ReindexPayload {
  type: string;
}

export interface ReindexSettings {
  /** Resources per batch (one transaction each). */
  batchSize: number;
  leaseSeconds: number;
  maxAttempts: number;
  workers: number;
  /** How long a node may use its copy of the custom parameters before asking the database for the version. */
  ttlMs: number;
}

export interface ReindexDeps {
  db: Db;
  queue: JobQueue;
  codec: BodyCodec;
  indexWriter: IndexWriter;
  registry: HavenSearchParamRegistry;
  resourceTypes: ReadonlySet<string>;
  /** Index values of every parameter of the resource's type (the store's extraction, custom layer included). */
  extract: (resource: object, container?: object) => IndexValue[];
  tenant: string;
  logger: Logger;
  settings: ReindexSettings;
  node: string;
}

export type ReindexStatus = 'running' | 'completed' | 'failed';

export interface ReindexJob {
  tenant: string;
  jobId: string;
  types: string[];
  /** Parameter codes to rewrite; null: every parameter of the types. */
  params: string[] | null;
  status: ReindexStatus;
  total: number;
  notBefore: Date;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface ReindexProgress extends ReindexJob {
  processed: number;
}
