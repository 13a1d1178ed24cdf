import { patientOfJson } from '../audit/index.js';
import type { Task } from '../store/jobs.js';
import { chunkPageSql, nextCursor } from './chunk-sql.js';
import type { BulkDeps } from './deps.js';
import { blobName, type BulkJob, type ChunkPayload } from './model.js';

interface Row {
  resource_type: string;
  id: string;
  version_id: string;
  content: Buffer | null;
  /** Associated-data rows (Provenance): the patients of their targets, for the file's audit entry. */
  patients?: string[];
  /** Associated-data rows: the exported resource the Provenance was found through (part of the keyset cursor). */
  target_id?: string;
}

export interface ChunkResult {
  name: string;
  count: number;
  bytes: number;
  patients: Set<string>;
}

/** `_elements` for one type: unqualified names, and names qualified with this type. */
function elementsFor(elements: string[] | undefined, type: string): string[] | undefined {
  if (!elements) return undefined;
  const mine = elements.filter((e) => !/^[A-Z]/.test(e) || e.startsWith(`${type}.`));
  return mine.length > 0 ? mine : undefined;
}

async function toLine(deps: BulkDeps, tenant: string, row: Row, elements: string[] | undefined, patients: Set<string>): Promise<string> {
  const identity = { tenant, resourceType: row.resource_type, id: row.id, versionId: Number(row.version_id) };
  let json = await deps.codec.decode(identity, row.content!);
  const patient = patientOfJson(row.resource_type, row.id, json);
  if (patient) patients.add(patient.slice('Patient/'.length));
  for (const p of row.patients ?? []) patients.add(p);
  if (elements) json = JSON.stringify(deps.fhir.applyElements(JSON.parse(json) as object, elements));
  else if (json.includes('\n')) json = JSON.stringify(JSON.parse(json)); // NDJSON: one resource per line
  return `${json}\n`;
}

/**
 * Writes one chunk as one encrypted NDJSON blob, page by page (a keyset page
 * is read while the previous one is decrypted and written, so memory holds at
 * most two pages of stored rows, and of plaintext only one line and the blob
 * writer's one segment). `keepLease` is called after each page; when it reports the
 * lease lost, the partial file is discarded and undefined returned.
 */
export async function runChunk(
  deps: BulkDeps,
  job: BulkJob,
  task: Task<ChunkPayload>,
  keepLease: (progress: number) => Promise<boolean>,
): Promise<ChunkResult | undefined> {
  const name = blobName(job.jobId, task.seq, task.attempts);
  const pageSize = deps.settings.pageSize;
  const elements = elementsFor(job.params.elements, task.payload.type);
  const fetchPage = async (cursor: string) => {
    const q = await chunkPageSql(deps.chunkSql, job.tenant, job, task.payload, cursor, pageSize);
    // JIT is off on Haven's connections (src/store/db.ts): it compiled such a page for 3.3 s.
    return (await deps.db.query<Row>(q.sql, q.params)).rows;
  };
  const writer = await deps.blobs.create(job.tenant, name);
  const patients = new Set<string>();
  let count = 0;
  let pending = fetchPage(task.payload.associated ? '' : (task.payload.after ?? ''));
  try {
    for (;;) {
      const rows = await pending;
      if (rows.length === 0) break;
      pending = rows.length < pageSize ? Promise.resolve([]) : fetchPage(nextCursor(task.payload, rows[rows.length - 1]!));
      // Row by row into the writer's segment buffer: no page of decrypted lines, nor their joined copy, is
      // held; and each row is let go once written, so the rest of the page is all a garbage collection
      // meeting it mid-page finds alive (what survives two young-generation collections moves to the old one).
      const page: (Row | undefined)[] = rows;
      for (let i = 0; i < page.length; i++) {
        const row = page[i]!;
        page[i] = undefined;
        await writer.write(await toLine(deps, job.tenant, row, elements, patients));
      }
      count += rows.length;
      if (!(await keepLease(count))) {
        await writer.abort();
        return undefined;
      }
    }
    const { bytes } = await writer.close();
    return { name, count, bytes, patients };
  } catch (err) {
    pending.catch(() => undefined);
    await writer.abort();
    throw err;
  }
}

/** The manifest's error file: one OperationOutcome per line. */
export async function writeErrorFile(deps: BulkDeps, tenant: string, jobId: string, messages: string[], name = blobName(jobId, 0, 0), severity: 'warning' | 'error' = 'warning') {
  const writer = await deps.blobs.create(tenant, name);
  try {
    for (const m of messages) {
      await writer.write(`${JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity, code: severity === 'error' ? 'processing' : 'informational', diagnostics: m }] })}\n`);
    }
    const { bytes } = await writer.close();
    return { name, count: messages.length, bytes };
  } catch (err) {
    await writer.abort();
    throw err;
  }
}
