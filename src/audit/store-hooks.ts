import type { RequestContext } from '../kernel/index.js';
import type { Queryable, StoredResource, WriteResult } from '../store/index.js';
import { patientOfJson, patientOfResource, type AuditAction, type AuditedContext, type AuditRequestInfo, type AuditResourceRef, type EntryFacts } from './entry.js';
import type { AuditRecorder } from './recorder.js';

/**
 * Reads held for one request, recorded as ONE entry when its response is ready
 * (http-hooks `completed`, awaited before anything is sent): a search with
 * `_include`/`_revinclude` runs one statement per round, and one entry per
 * statement cost a seal and a durable group-commit wait each. Keyed by the
 * request's audit facts, which copies of the context (`{ ...ctx }`) share.
 */
const held = new WeakMap<AuditRequestInfo, AuditResourceRef[]>();

/** From now until `takeHeldReads`, the store's reads for this request are held, not recorded one by one. */
export function holdReads(info: AuditRequestInfo): void {
  held.set(info, []);
}

/**
 * Ends holding (later reads are recorded at once again) and returns what was
 * held, or undefined if nothing was being held. The caller must record it
 * before the response leaves, or drop it when nothing is sent.
 */
export function takeHeldReads(info: AuditRequestInfo): AuditResourceRef[] | undefined {
  const refs = held.get(info);
  held.delete(info);
  return refs;
}

/**
 * Included resources an access guard dropped after the read hook had held them
 * (granular scopes, role policies): they are not sent, so the search's entry
 * must not name them. A read recorded at once (no search held) is unaffected.
 */
export function dropHeldReads(ctx: RequestContext, dropped: readonly StoredResource[]): void {
  const info = (ctx as AuditedContext).audit;
  const refs = info ? held.get(info) : undefined;
  if (!refs || dropped.length === 0) return;
  const gone = new Set(dropped.map((r) => `${r.resourceType}/${r.id}/${r.versionId}`));
  held.set(info!, refs.filter((r) => !gone.has(`${r.type}/${r.id}/${r.version}`)));
}

const writeActions: Record<string, AuditAction> = { POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
// Reads made while serving a single write (patch base, conditional match) are covered by the write's entry.
const writeRequest = new Set<AuditAction | undefined>(['create', 'update', 'patch', 'delete']);
const readActions = new Set<AuditAction | undefined>(['read', 'vread', 'search', 'history', 'operation']);

/** One entry per resource changed: ASTM E2147 records each disclosure or change as its own event. */
export function writeFacts(results: WriteResult[]): EntryFacts[] {
  return results.map((r) => {
    const s = r.stored;
    const patient = patientOfResource(s.resourceType, s.id, r.resource);
    const resource: AuditResourceRef = {
      type: s.resourceType,
      id: s.id,
      // An update that changed nothing names the version it kept; a delete of nothing names none.
      ...(r.noop && r.operation === 'delete' ? {} : { version: s.versionId }),
      ...(patient ? { patient } : {}),
    };
    return { action: writeActions[s.method ?? (r.operation === 'delete' ? 'DELETE' : 'PUT')] ?? 'update', outcome: 'success', resources: [resource] };
  });
}

/** One entry per read interaction, naming every resource (version) that was returned. */
export function readFacts(ctx: AuditedContext, found: StoredResource[]): EntryFacts | undefined {
  const action = ctx.audit?.action;
  if (writeRequest.has(action)) return undefined;
  const resources = found.map(refOf);
  return {
    action: readActions.has(action) ? action! : 'read',
    outcome: 'success',
    resources: resources.length > 0 ? resources : (ctx.audit?.resources ?? []),
  };
}

function refOf(s: StoredResource): AuditResourceRef {
  const patient = patientOfJson(s.resourceType, s.id, s.json);
  return { type: s.resourceType, id: s.id, version: s.versionId, ...(patient ? { patient } : {}) };
}

/** The store hooks: writes audited in their own transaction, reads awaited before the response. */
export function auditStoreHooks(recorder: AuditRecorder) {
  return {
    afterWrite: async (ctx: RequestContext, tx: Queryable, results: WriteResult[]) => {
      await recorder.inTransaction(ctx, tx, writeFacts(results));
    },
    afterRead: async (ctx: RequestContext, found: StoredResource[]) => {
      const info = (ctx as AuditedContext).audit;
      const refs = info ? held.get(info) : undefined;
      if (refs) {
        for (const s of found) refs.push(refOf(s));
        return;
      }
      const facts = readFacts(ctx, found);
      if (facts) await recorder.record(ctx, [facts]);
    },
  };
}
