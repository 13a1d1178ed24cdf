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
  /** includeAssociatedData: Provenance of the exported resources, the latest per resource or all. */
  associated?: AssociatedData;
}

export type AssociatedData = 'latest' | 'relevant';

/** One queue task: one type, ids in (after, upTo], written as one NDJSON file. */
export interface ChunkPayload {
  type: string;
  after: string | null;
  upTo: string | null;
  /**
   * Set on the Provenance chunks of includeAssociatedData: the Provenance of the
   * exported resources of type `targetType` with ids in (after, upTo] — the
   * range of one of the export's own chunks.
   */
  associated?: AssociatedData;
  targetType?: string;
  /** Every exported type a Provenance may target (the export's types but Provenance): decides which chunk owns a Provenance with several targets. */
  targets?: string[];
}

/** Chunks from a plan's boundary rows (every N-th id per type, and each type's last id), in (type, id) order. */
export function chunksFromBoundaries(rows: { resource_type: string; id: string; last: boolean }[]): ChunkPayload[] {
  const chunks: ChunkPayload[] = [];
  let after: string | null = null;
  for (const row of rows) {
    chunks.push({ type: row.resource_type, after, upTo: row.last ? null : row.id });
    after = row.last ? null : row.id;
  }
  return chunks;
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
  /** How far the input was imported: saved in the transaction of each committed batch, read when a retry resumes. */
  position?: ImportPosition;
}

/** A resumable point in an $import input: every line before it is written (or reported), none after it. */
export interface ImportPosition {
  /** Bytes of the input consumed: the start of the first line not yet imported. */
  offset: number;
  /** Lines consumed (line numbers in error messages go on from here). */
  line: number;
  /** Resources written so far. */
  count: number;
  /** Error-file entries so far (the first IMPORT_SAVED_ERRORS; `errorCount` counts them all). */
  errors: string[];
  errorCount: number;
  /** The source's ETag when the pull began, so a resumed pull can tell that the file changed. */
  etag?: string;
}

export const blobPrefix = (jobId: string) => `bulk/${jobId}`;
/** The attempt is part of the name: a stalled older attempt can never overwrite a newer one's file. */
export const blobName = (jobId: string, seq: number, attempt: number) => `${blobPrefix(jobId)}/${seq}-${attempt}.ndjson`;
