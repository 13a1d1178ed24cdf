import { StringDecoder } from 'node:string_decoder';
import type { AuditedContext } from '../audit/index.js';
import { isHavenError } from '../kernel/index.js';
import type { FhirResource, WriteOperation } from '../store/index.js';
import type { Task } from '../store/jobs.js';
import type { BulkDeps } from './deps.js';
import { inputRefused, isRefusal, pullInput } from './import-source.js';
import type { BulkJob, ImportPayload } from './model.js';

const BATCH = 200;

export interface ImportResult {
  count: number;
  errors: string[];
}

interface Line {
  n: number;
  resource: FhirResource;
}

const reason = (err: unknown) => (isHavenError(err) ? `${err.code}: ${err.message}` : 'internal error');
const opOf = (r: FhirResource): WriteOperation => ({ kind: 'update', resource: r, id: r.id! });

/** Writes through the store (validation, index rows, one audit entry per resource, in the write's transaction). */
async function writeBatch(deps: BulkDeps, ctx: AuditedContext, lines: Line[], result: ImportResult): Promise<void> {
  try {
    await deps.store.transaction(ctx, (tx) => tx.write(ctx, lines.map((l) => opOf(l.resource))));
    result.count += lines.length;
  } catch {
    // One bad resource fails its batch: retry one by one to keep the good ones and name the bad.
    for (const l of lines) {
      try {
        await deps.store.write(ctx, opOf(l.resource));
        result.count++;
      } catch (err) {
        result.errors.push(`line ${l.n}: ${reason(err)}`);
      }
    }
  }
}

function parseLine(deps: BulkDeps, type: string, text: string, n: number, result: ImportResult): Line | undefined {
  let resource: FhirResource;
  try {
    resource = JSON.parse(text) as FhirResource;
  } catch {
    result.errors.push(`line ${n}: not JSON`);
    return undefined;
  }
  if (resource?.resourceType !== type) {
    result.errors.push(`line ${n}: resourceType is not ${type}`);
    return undefined;
  }
  // Writes are by id (PUT): a retried or resumed task rewrites the same resources, never duplicates them.
  if (typeof resource.id !== 'string' || resource.id === '') {
    result.errors.push(`line ${n}: an imported resource needs an id`);
    return undefined;
  }
  const problems = (deps.validate?.(resource) ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (problems.length > 0) {
    result.errors.push(`line ${n}: VALIDATION_FAILED: ${problems[0]!.diagnostics}`);
    return undefined;
  }
  return { n, resource };
}

/** Longest NDJSON line accepted (characters): a file without line breaks must not fill the memory. */
const MAX_LINE_CHARS = 32 * 2 ** 20;

/** The input's bytes: a blob of an earlier export, or a pull from an allow-listed server. */
const source = (deps: BulkDeps, job: BulkJob, p: ImportPayload): AsyncIterable<Uint8Array> =>
  p.blob !== undefined ? deps.blobs.read(job.tenant, p.blob) : pullInput(deps.settings, p.url);

/**
 * One $import input, split into lines as it streams (a UTF-8 character may
 * straddle chunks), written in batches by id. Returns undefined when the lease
 * was lost. A refusal by the source (4xx, too large, a line too long) ends the
 * input with an error-file entry after the lines read so far; network failures
 * throw, and the task is retried.
 */
export async function runImportTask(deps: BulkDeps, job: BulkJob, task: Task<ImportPayload>, keepLease: (n: number) => Promise<boolean>): Promise<ImportResult | undefined> {
  const ctx = importContext(job, task);
  const result: ImportResult = { count: 0, errors: [] };
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let n = 0;
  let batch: Line[] = [];
  const flush = async () => {
    if (batch.length > 0) await writeBatch(deps, ctx, batch, result);
    batch = [];
    return keepLease(result.count);
  };
  try {
    for await (const chunk of source(deps, job, task.payload)) {
      const lines = (rest + decoder.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))).split('\n');
      rest = lines.pop()!;
      if (rest.length > MAX_LINE_CHARS) throw inputRefused(`line ${n + lines.length + 1} is longer than ${MAX_LINE_CHARS} characters`);
      for (const text of lines) {
        n++;
        const line = text.trim() === '' ? undefined : parseLine(deps, task.payload.type, text, n, result);
        if (line) batch.push(line);
        if (batch.length >= BATCH && !(await flush())) return undefined;
      }
    }
  } catch (err) {
    if (!isRefusal(err)) throw err;
    result.errors.push(`input: ${reason(err)}`);
    return (await flush()) ? result : undefined;
  }
  const last = rest + decoder.end();
  if (last.trim() !== '') {
    const line = parseLine(deps, task.payload.type, last, n + 1, result);
    if (line) batch.push(line);
  }
  return (await flush()) ? result : undefined;
}

function importContext(job: BulkJob, task: Task<ImportPayload>): AuditedContext {
  return {
    tenant: job.tenant as AuditedContext['tenant'],
    requestId: `bulk/${job.jobId}/${task.seq}`,
    principal: { subject: job.subject, clientId: job.clientId, kind: 'client', scopes: [] },
    audit: { action: 'update', operation: '$import', resources: [], recorded: 0 },
  };
}
