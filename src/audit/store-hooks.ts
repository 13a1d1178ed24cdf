import type { RequestContext } from '../kernel/index.js';
import type { Queryable, StoredResource, WriteResult } from '../store/index.js';
import { patientOfJson, patientOfResource, type AuditAction, type AuditedContext, type AuditResourceRef, type EntryFacts } from './entry.js';
import type { AuditRecorder } from './recorder.js';

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
      ...(r.noop ? {} : { version: s.versionId }),
      ...(patient ? { patient } : {}),
    };
    return { action: writeActions[s.method ?? (r.operation === 'delete' ? 'DELETE' : 'PUT')] ?? 'update', outcome: 'success', resources: [resource] };
  });
}

/** One entry per read interaction, naming every resource (version) that was returned. */
export function readFacts(ctx: AuditedContext, found: StoredResource[]): EntryFacts | undefined {
  const action = ctx.audit?.action;
  if (writeRequest.has(action)) return undefined;
  const resources = found.map((s): AuditResourceRef => {
    const patient = patientOfJson(s.resourceType, s.id, s.json);
    return { type: s.resourceType, id: s.id, version: s.versionId, ...(patient ? { patient } : {}) };
  });
  return {
    action: readActions.has(action) ? action! : 'read',
    outcome: 'success',
    resources: resources.length > 0 ? resources : (ctx.audit?.resources ?? []),
  };
}

/** The store hooks: writes audited in their own transaction, reads awaited before the response. */
export function auditStoreHooks(recorder: AuditRecorder) {
  return {
    afterWrite: async (ctx: RequestContext, tx: Queryable, results: WriteResult[]) => {
      await recorder.inTransaction(ctx, tx, writeFacts(results));
    },
    afterRead: async (ctx: RequestContext, found: StoredResource[]) => {
      const facts = readFacts(ctx, found);
      if (facts) await recorder.record(ctx, [facts]);
    },
  };
}
