import type { ExportLevel } from './params.js';

/** The export as planned and stored in bulk_job.params: types already narrowed by the scopes. */
export interface ExportParams {
  level: ExportLevel | 'import';
  groupId?: string;
  types: string[];
  /** ISO instant. */
  since?: string;
  typeFilters: string[];
  elements?: string[];
  /** Patients the export is limited to (POST `patient`, or the Group's members at kick-off). */
  patients?: string[];
  /** Messages for the manifest's error file (ignored parameters, types left out by the scopes). */
  warnings: string[];
}

/** One queue task: one type, ids in (after, upTo], written as one NDJSON file. */
export interface ChunkPayload {
  type: string;
  after: string | null;
  upTo: string | null;
}

export type JobStatus = 'running' | 'complete' | 'failed' | 'cancelled' | 'expired';

export interface BulkJob {
  tenant: string;
  jobId: string;
  clientId: string;
  subject: string;
  status: JobStatus;
  requestUrl: string;
  params: ExportParams;
  transactionTime: Date;
  lastPollAt: Date | null;
  error: string | null;
}

export interface BulkSettings {
  fileTtlHours: number;
  maxFileResources: number;
  leaseSeconds: number;
  workers: number;
  /** Rows read, decrypted and written per keyset page. */
  pageSize: number;
  maxAttempts: number;
  /** Seconds a client is asked to wait between status polls. */
  retryAfterSeconds: number;
  /** Origins $import may pull from (HAVEN_IMPORT_ALLOWED_ORIGINS); empty: own export files only. */
  importAllowedOrigins: readonly string[];
  /** Largest input pulled from another server (HAVEN_IMPORT_MAX_BYTES). */
  importMaxBytes: number;
}

export const BULK_QUEUE = 'bulk-export';
export const IMPORT_QUEUE = 'bulk-import';

/**
 * One $import task: one input file, either a file of an earlier export (in the
 * blob store: `blob`) or an NDJSON file on an allow-listed server (no `blob`:
 * pulled from `url` when the task runs).
 */
export interface ImportPayload {
  type: string;
  url: string;
  blob?: string;
}

export const blobPrefix = (jobId: string) => `bulk/${jobId}`;
/** The attempt is part of the name: a stalled older attempt can never overwrite a newer one's file. */
export const blobName = (jobId: string, seq: number, attempt: number) => `${blobPrefix(jobId)}/${seq}-${attempt}.ndjson`;
