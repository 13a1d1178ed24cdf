import { isHavenError, type RequestContext } from '../kernel/index.js';
import type { AuditedContext, AuditRequestInfo, EntryFacts } from './entry.js';
import type { AuditRecorder } from './recorder.js';
import { describeFhirRequest } from './request-info.js';
import { holdReads, takeHeldReads } from './store-hooks.js';

/**
 * Audit scopes for the entries of a batch or transaction Bundle. Each entry
 * runs with its own audit facts, so it is audited as the same request sent on
 * its own would be: a search is ONE `search` entry naming its matches and then
 * its included resources (not one per statement), a read one `read`, a write
 * its own entry in its own commit. The entries' read records are then made
 * durable together, in one recorder call (one group-commit wait for the whole
 * Bundle), before its response is built.
 *
 * Every entry recorded for a Bundle carries the Bundle request's id, source
 * address, node and purpose of use (`why`, from the token or the Bundle
 * request's X-Purpose-Of-Use: an entry has no headers of its own), and
 * `context: 'bundle'`.
 */
interface BundleScope {
  recorder: AuditRecorder;
  /** Entries awaiting the Bundle's record call, in entry order. */
  pending: Pending[];
}

interface Pending {
  index: number;
  operation?: string;
  facts: EntryFacts;
}

const scopes = new WeakMap<AuditRequestInfo, BundleScope>();

// Interactions whose reads are what they disclose; a write's reads (patch base, conditional match) are covered by its own entry.
const readActions = new Set<string | undefined>(['read', 'vread', 'search', 'history', 'operation']);

/** Called when a Bundle request is prepared: its entries will be audited per entry (http-hooks `prepare`). */
export function openBundleScope(info: AuditRequestInfo, recorder: AuditRecorder): void {
  scopes.set(info, { recorder, pending: [] });
  // Reads the Bundle makes outside any entry (a transaction's conditional matches) are held too: one record call.
  holdReads(info);
}

/** The Bundle failed as a whole: nothing it read was sent, and its failure entry is its record. */
export function closeBundleScope(info: AuditRequestInfo): void {
  scopes.delete(info);
  takeHeldReads(info);
}

/** One Bundle entry's audit scope, from `auditBundleEntry`. */
export interface BundleEntryAudit {
  /** The context the entry runs with (its reads are held for its own entry). */
  readonly ctx: RequestContext;
  /** The entry answered with `status`: its record joins the Bundle's (or it recorded its own write). */
  done(status: number): void;
  /** The entry failed alone (batch): a failure entry joins the Bundle's record. */
  failed(error: unknown, status: number): void;
  /** Whether the entry answered with a success whose record awaits `recordBundleEntries` (its response must not leave before). */
  readonly awaiting: boolean;
  /** Whether the entry committed a change, recorded in the change's own commit (durable already). */
  readonly wrote: boolean;
}

const unaudited = (ctx: RequestContext): BundleEntryAudit => ({ ctx, done: () => undefined, failed: () => undefined, awaiting: false, wrote: false });

/**
 * Opens the audit scope of Bundle entry `index` (its request's method and
 * path below the FHIR base). Without a Bundle scope on `ctx` (audit off, or
 * a caller outside the HTTP edge such as HL7 v2 ingestion) the entry runs
 * with `ctx` itself, audited as before.
 */
export function auditBundleEntry(ctx: RequestContext, index: number, method: string, path: string[]): BundleEntryAudit {
  const bundleInfo = (ctx as AuditedContext).audit;
  const scope = bundleInfo ? scopes.get(bundleInfo) : undefined;
  const described = describeFhirRequest(method, path);
  if (!bundleInfo || !scope || !described?.action) return unaudited(ctx);
  const action = described.action;
  // Action 'bundle' on the entry's own facts: whatever is recorded with them (a write in its
  // transaction, a late read) is marked as inside a Bundle (entry.ts `context`).
  const info: AuditRequestInfo = { action: 'bundle', resources: described.resources, recorded: 0, ...(described.operation ? { operation: described.operation } : {}) };
  holdReads(info);
  let awaiting = false;
  const settle = (facts: EntryFacts | undefined) => {
    takeHeldReads(info);
    // Writes recorded in the entry's transaction count for the Bundle: it then needs no entry of its own.
    bundleInfo.recorded += info.recorded;
    if (!facts) return;
    scope.pending.push({ index, ...(described.operation ? { operation: described.operation } : {}), facts });
    // A failure disclosed nothing: its response need not wait for its record.
    awaiting = facts.outcome === 'success';
  };
  return {
    ctx: { ...ctx, audit: info } as AuditedContext,
    done(status) {
      // As `completed` for the same request alone: the reads it returned, else (nothing recorded) the interaction itself.
      const read = readActions.has(action) ? takeHeldReads(info) : undefined;
      if (read && read.length > 0) return settle({ action, outcome: 'success', resources: read });
      if (info.recorded > 0 || status >= 400) return settle(undefined);
      settle({ action, outcome: 'success', status, resources: described.resources });
    },
    failed(error, status) {
      const code = isHavenError(error) ? error.code : 'INTERNAL_ERROR';
      // A failed audit write cannot itself be audited (as for a request alone).
      if (code === 'AUDIT_UNAVAILABLE') return settle(undefined);
      settle({ action, outcome: 'failure', outcomeCode: code, status, resources: described.resources });
    },
    get awaiting() {
      return awaiting;
    },
    get wrote() {
      return info.recorded > 0;
    },
  };
}

/**
 * Makes the Bundle's pending entry records durable: one recorder call (one
 * group-commit wait) for all of them, plus one `read` entry for what the
 * Bundle read outside its entries (a transaction's conditional matches).
 * Throws AUDIT_UNAVAILABLE when they cannot be recorded; the caller then sends
 * none of the entries that awaited it. Does nothing without a Bundle scope.
 */
export async function recordBundleEntries(ctx: RequestContext): Promise<void> {
  const info = (ctx as AuditedContext).audit;
  const scope = info ? scopes.get(info) : undefined;
  if (!info || !scope) return;
  const outside = takeHeldReads(info) ?? [];
  holdReads(info);
  const pending = scope.pending.sort((a, b) => a.index - b.index);
  scope.pending = [];
  const groups = new Map<string | undefined, EntryFacts[]>();
  if (outside.length > 0) groups.set(undefined, [{ action: 'read', outcome: 'success', resources: outside }]);
  for (const p of pending) groups.set(p.operation, [...(groups.get(p.operation) ?? []), p.facts]);
  // Normally one group; `$operation` entries need their name on the entry (entry.ts takes it from the context's facts).
  await Promise.all(
    [...groups].map(async ([operation, facts]) => {
      if (operation === undefined) return scope.recorder.record(ctx, facts);
      const opInfo: AuditRequestInfo = { action: 'bundle', operation, resources: [], recorded: 0 };
      await scope.recorder.record({ ...ctx, audit: opInfo } as AuditedContext, facts);
      info.recorded += opInfo.recorded;
    }),
  );
}
