import { StringDecoder } from 'node:string_decoder';
import type { AuditedContext } from '../audit/index.js';
import { isHavenError } from '../kernel/index.js';
import type { FhirResource, WriteOperation } from '../store/index.js';
import type { Task } from '../store/jobs.js';
import type { BulkDeps } from './deps.js';
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
const opOf = (r: FhirResource): WriteOperation => (r.id ? { kind: 'update', resource: r, id: r.id } : { kind: 'create', resource: r });

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
  const problems = (deps.validate?.(resource) ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (problems.length > 0) {
    result.errors.push(`line ${n}: VALIDATION_FAILED: ${problems[0]!.diagnostics}`);
    return undefined;
  }
  return { n, resource };
}

/**
 * One $import input: the NDJSON blob decrypted segment by segment, split into
 * lines (a UTF-8 character may straddle segments), written in batches by id,
 * so a retried task rewrites the same resources rather than duplicating them.
 */
export async function runImportTask(deps: BulkDeps, job: BulkJob, task: Task<ImportPayload>, keepLease: (n: number) => Promise<boolean>): Promise<ImportResult | undefined> {
  const ctx: AuditedContext = {
    tenant: job.tenant as AuditedContext['tenant'],
    requestId: `bulk/${job.jobId}/${task.seq}`,
    principal: { subject: job.subject, clientId: job.clientId, kind: 'client', scopes: [] },
    audit: { action: 'update', operation: '$import', resources: [], recorded: 0 },
  };
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
  for await (const segment of deps.blobs.read(job.tenant, task.payload.blob)) {
    const lines = (rest + decoder.write(segment)).split('\n');
    rest = lines.pop()!;
    for (const text of lines) {
      n++;
      const line = text.trim() === '' ? undefined : parseLine(deps, task.payload.type, text, n, result);
      if (line) batch.push(line);
      if (batch.length >= BATCH && !(await flush())) return undefined;
    }
  }
  const last = rest + decoder.end();
  if (last.trim() !== '') {
    const line = parseLine(deps, task.payload.type, last, n + 1, result);
    if (line) batch.push(line);
  }
  return (await flush()) ? result : undefined;
}
