import type { AuditedContext } from '../audit/index.js';
import { isHavenError } from '../kernel/index.js';
import type { FhirResource, StoreTransaction, WriteOperation } from '../store/index.js';
import type { Task } from '../store/jobs.js';
import type { BulkDeps } from './deps.js';
import { splitLines, skipBytes, type InputLine } from './import-lines.js';
import { inputRefused, isRefusal, pullInput } from './import-source.js';
import type { BulkJob, ImportPayload, ImportPosition } from './model.js';

const BATCH = 200;
/** Error messages kept in the saved position (all are counted): the position is rewritten with every batch. */
const SAVED_ERRORS = 1000;

export interface ImportResult {
  count: number;
  errors: string[];
}

interface Line {
  n: number;
  end: number;
  resource: FhirResource;
}

interface LineError {
  n: number;
  text: string;
}

/** An attempt's progress through its input; each committed batch saves it as of the batch's last line. */
interface ImportState {
  /** Where this attempt starts reading (0, or the saved position). */
  offset: number;
  line: number;
  count: number;
  errors: LineError[];
  /** Errors before a resume whose messages were not saved. */
  unlisted: number;
  etag?: string | undefined;
}

/** The lease was lost mid-batch: the batch's transaction is rolled back, another attempt owns the input. */
class LeaseLost extends Error {}

const reason = (err: unknown) => (isHavenError(err) ? `${err.code}: ${err.message}` : 'internal error');
const opOf = (r: FhirResource): WriteOperation => ({ kind: 'update', resource: r, id: r.id! });

function restore(p: ImportPosition | undefined): ImportState {
  if (!p) return { offset: 0, line: 0, count: 0, errors: [], unlisted: 0 };
  // Saved messages start `line N: …` (or `input: …`, only ever last).
  const errors = p.errors.map((text) => ({ n: Number(/^line (\d+):/.exec(text)?.[1] ?? p.line), text }));
  return { offset: p.offset, line: p.line, count: p.count, errors, unlisted: p.errorCount - p.errors.length, ...(p.etag ? { etag: p.etag } : {}) };
}

/** The position after line `upTo` (ending at byte `end`): only the errors of lines up to it belong to it. */
function position(state: ImportState, upTo: number, end: number, count: number): ImportPosition {
  const errors = state.errors.filter((e) => e.n <= upTo);
  return {
    offset: end,
    line: upTo,
    count,
    errors: errors.slice(0, SAVED_ERRORS).map((e) => e.text),
    errorCount: state.unlisted + errors.length,
    ...(state.etag ? { etag: state.etag } : {}),
  };
}

/** Saves the position in `tx` (the transaction of the writes it covers); throws LeaseLost when fenced off. */
async function checkpoint(deps: BulkDeps, ctx: AuditedContext, tx: Pick<StoreTransaction, 'rows'>, task: Task<ImportPayload>, at: ImportPosition): Promise<void> {
  const rows = await tx.rows(ctx, deps.queue.checkpointSql(task, 'position', at));
  if (rows.length !== 1) throw new LeaseLost();
}

/**
 * Writes a batch through the store (validation, index rows, one audit entry per
 * resource) and saves the position after its last line in the same
 * transaction: after a crash the input resumes exactly there, so no line is
 * written twice. False when the lease was lost.
 */
async function writeBatch(deps: BulkDeps, ctx: AuditedContext, task: Task<ImportPayload>, lines: Line[], state: ImportState, upTo: number, end: number): Promise<boolean> {
  try {
    if (lines.length > 0) {
      await deps.store.transaction(ctx, async (tx) => {
        await tx.write(ctx, lines.map((l) => opOf(l.resource)));
        await checkpoint(deps, ctx, tx, task, position(state, upTo, end, state.count + lines.length));
      });
      state.count += lines.length;
      return true;
    }
  } catch (err) {
    if (err instanceof LeaseLost) return false;
    // One bad resource fails its batch: retry one by one to keep the good ones and name the bad.
    for (const l of lines) {
      try {
        await deps.store.transaction(ctx, async (tx) => {
          await tx.write(ctx, [opOf(l.resource)]);
          await checkpoint(deps, ctx, tx, task, position(state, l.n, l.end, state.count + 1));
        });
        state.count++;
      } catch (e) {
        if (e instanceof LeaseLost) return false;
        state.errors.push({ n: l.n, text: `line ${l.n}: ${reason(e)}` });
      }
    }
  }
  // Lines with errors only (or none): their position is saved on its own.
  try {
    await checkpoint(deps, ctx, deps.store, task, position(state, upTo, end, state.count));
    return true;
  } catch (err) {
    if (err instanceof LeaseLost) return false;
    throw err;
  }
}

function parseLine(deps: BulkDeps, type: string, input: InputLine, state: ImportState): Line | undefined {
  const { n } = input;
  const fail = (text: string) => void state.errors.push({ n, text: `line ${n}: ${text}` });
  let resource: FhirResource;
  try {
    resource = JSON.parse(input.text) as FhirResource;
  } catch {
    return fail('not JSON');
  }
  if (resource?.resourceType !== type) return fail(`resourceType is not ${type}`);
  // Writes are by id (PUT): a retried task rewrites the same resources, never duplicates them.
  if (typeof resource.id !== 'string' || resource.id === '') return fail('an imported resource needs an id');
  const problems = (deps.validate?.(resource) ?? []).filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (problems.length > 0) return fail(`VALIDATION_FAILED: ${problems[0]!.diagnostics}`);
  return { n, end: input.end, resource };
}

/**
 * The input's bytes from `state.offset` on: a blob of an earlier export (read
 * and skipped up to there: it is sealed in segments, not seekable by byte), or
 * a pull from an allow-listed server (a Range request; see pullInput).
 */
function source(deps: BulkDeps, job: BulkJob, p: ImportPayload, state: ImportState): AsyncIterable<Uint8Array> {
  if (p.blob !== undefined) return blobInput(deps, job.tenant, p.blob, state.offset);
  return pullInput(deps.settings, p.url, {
    from: state.offset,
    etag: state.etag,
    onOpen: ({ etag, from }) => {
      // The file changed since the import began: read it anew from its first line.
      if (from === 0 && state.offset > 0) Object.assign(state, { offset: 0, line: 0, count: 0, errors: [], unlisted: 0 });
      state.etag = etag;
    },
  });
}

/**
 * A file of an earlier export, from `skip` bytes on. If the export expired or
 * was cancelled after this import was queued, the file is gone for good: that
 * is a refusal (an error-file entry after the lines already imported), not a
 * failure worth five retries.
 */
async function* blobInput(deps: BulkDeps, tenant: string, name: string, skip: number): AsyncGenerator<Uint8Array> {
  try {
    yield* skipBytes(deps.blobs.read(tenant, name), skip);
  } catch (err) {
    if (isHavenError(err) && err.code === 'BLOB_NOT_FOUND') throw inputRefused('the export file no longer exists: its export expired or was cancelled');
    throw err;
  }
}

/**
 * One $import input, split into lines as it streams, written in batches by id,
 * resuming where an earlier attempt's last committed batch ended. Returns
 * undefined when the lease was lost. A refusal by the source (4xx, too large, a
 * line too long) ends the input with an error-file entry after the lines read
 * so far; network failures throw, and the task is retried (and resumes).
 */
export async function runImportTask(deps: BulkDeps, job: BulkJob, task: Task<ImportPayload>, keepLease: (n: number) => Promise<boolean>): Promise<ImportResult | undefined> {
  const ctx = importContext(job, task);
  const state = restore(task.payload.position);
  let batch: Line[] = [];
  let last: InputLine | undefined; // the last line read; none yet: the start (known once the source answered)
  const flush = async () => {
    const upTo = last ?? { n: state.line, end: state.offset };
    const ok = await writeBatch(deps, ctx, task, batch, state, upTo.n, upTo.end);
    batch = [];
    return ok && keepLease(state.count);
  };
  try {
    // Read lazily: onOpen may move the start back to 0 before the first line is cut.
    const lines = splitLinesFrom(source(deps, job, task.payload, state), state);
    for await (const input of lines) {
      last = input;
      const line = input.text.trim() === '' ? undefined : parseLine(deps, task.payload.type, input, state);
      if (line) batch.push(line);
      if (batch.length >= BATCH && !(await flush())) return undefined;
    }
  } catch (err) {
    if (!isRefusal(err)) throw err;
    state.errors.push({ n: Number.MAX_SAFE_INTEGER, text: `input: ${reason(err)}` });
  }
  if (!(await flush())) return undefined;
  const errors = state.errors.map((e) => e.text);
  if (state.unlisted > 0) errors.unshift(`${state.unlisted} errors before the import resumed after a restart are not listed`);
  return { count: state.count, errors };
}

/** Lines of `chunks`, numbered and offset from the state as it is when the first chunk arrives. */
async function* splitLinesFrom(chunks: AsyncIterable<Uint8Array>, state: ImportState): AsyncGenerator<InputLine> {
  const it = chunks[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  async function* all(): AsyncGenerator<Uint8Array> {
    yield first.value as Uint8Array;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  yield* splitLines(all(), state.offset, state.line);
}

function importContext(job: BulkJob, task: Task<ImportPayload>): AuditedContext {
  return {
    tenant: job.tenant as AuditedContext['tenant'],
    requestId: `bulk/${job.jobId}/${task.seq}`,
    principal: { subject: job.subject, clientId: job.clientId, kind: 'client', scopes: [] },
    audit: { action: 'update', operation: '$import', resources: [], recorded: 0 },
  };
}
