import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoreTransaction, WriteOperation, WriteResult } from '../../store/index.js';
import type { Step } from './bundle-plan.js';
import { atEntry, deletedEntry, writtenEntry } from './bundle-response.js';
import { writtenMessage } from './respond.js';

/** A create, update or delete whose target is known: it can join a multi-resource tx.write. */
export type WriteStep = Extract<Step, { kind: 'create' | 'update' | 'delete' }> & { id: string };

export function isWriteStep(step: Step): step is WriteStep {
  return (step.kind === 'create' || step.kind === 'update' || step.kind === 'delete') && step.id !== undefined && step.criteria === undefined;
}

function toOperation(step: WriteStep): WriteOperation {
  const ifMatch = step.kind !== 'create' && step.ifMatch !== undefined ? { ifMatch: step.ifMatch } : {};
  switch (step.kind) {
    case 'create':
      return { kind: 'create', resource: step.resource, id: step.id };
    case 'update':
      return { kind: 'update', resource: step.resource, id: step.id, ...ifMatch };
    case 'delete':
      return { kind: 'delete', resourceType: step.type, id: step.id, ...ifMatch };
  }
}

function resultEntry(step: WriteStep, result: WriteResult): string {
  const s = result.stored;
  const req = step.entry.request;
  switch (step.kind) {
    case 'create':
      return writtenEntry(req, s, 201, `Created ${s.resourceType}/${s.id}`);
    case 'update':
      return writtenEntry(req, s, result.created ? 201 : 200, writtenMessage(result, result.created ? 'Created' : 'Updated'));
    case 'delete':
      return deletedEntry(result.noop ? undefined : s.versionId);
  }
}

/**
 * Writes many steps with ONE tx.write (a fixed number of SQL statements
 * whatever the count) and returns their response entries in step order.
 */
export async function writeSteps(ctx: RequestContext, tx: StoreTransaction, steps: WriteStep[]): Promise<string[]> {
  if (steps.length === 0) return [];
  let results: WriteResult[];
  try {
    results = await tx.write(ctx, steps.map(toOperation));
  } catch (err) {
    throw attribute(err, steps);
  }
  return steps.map((step, i) => resultEntry(step, results[i]!));
}

/**
 * Names the entry that failed a multi-resource write. The store labels its
 * per-resource errors (version conflict, duplicate) with `Type/id`; any other
 * error names every entry of the write, since it cannot tell them apart.
 */
function attribute(err: unknown, steps: WriteStep[]): unknown {
  if (!(err instanceof HavenError)) return err;
  const hit = steps.length === 1 ? steps[0] : steps.find((s) => new RegExp(`^${escape(`${s.type}/${s.id}`)}(?![A-Za-z0-9.-])`).test(err.message));
  if (hit) return atEntry(err, hit.entry.index);
  const expression = steps.map((s) => `Bundle.entry[${s.entry.index}]`);
  const issues = err.issues.map((i) => ({ ...i, expression: [...expression, ...(i.expression ?? [])] }));
  return new HavenError(err.category, err.code, err.message, { issues, headers: err.headers, cause: err });
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
