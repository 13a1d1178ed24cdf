import { auditBundleEntry, recordBundleEntries, type BundleEntryAudit } from '../../audit/index.js';
import { HavenError, type Logger, type RequestContext } from '../../kernel/index.js';
import type { ParsedEntry } from './bundle-entries.js';
import { prepareStep, type Phase, type Step } from './bundle-plan.js';
import { errorEntry, routedEntry } from './bundle-response.js';
import { isWriteStep, writeSteps } from './bundle-write.js';
import type { FhirDeps } from './deps.js';
import type { FhirRouter } from './router.js';

/**
 * A batch Bundle: every entry stands alone and fails alone. Plain writes of a
 * phase are tried together in one transaction (the fast path for bulk
 * ingest); if that fails, each of them runs again on its own so only the
 * faulty entries answer with an error. References between entries are not
 * resolved (R4: a batch has no interdependencies). Each other entry runs in
 * its own audit scope (src/audit/bundle-scope.ts); their records are made
 * durable together before the response is built.
 */
export async function runBatch(
  deps: FhirDeps,
  router: FhirRouter,
  ctx: RequestContext,
  parsed: (ParsedEntry | HavenError)[],
  logger: Logger,
): Promise<string[]> {
  const out: string[] = new Array<string>(parsed.length);
  const audits: [number, BundleEntryAudit][] = [];
  const auditOf = (entry: ParsedEntry) => {
    const audit = auditBundleEntry(ctx, entry.index, entry.request.method, entry.request.path);
    audits.push([entry.index, audit]);
    return audit;
  };
  const fail = (index: number, err: unknown, audit?: BundleEntryAudit) => {
    const { entry, status } = errorEntry(err, logger, ctx.requestId);
    out[index] = entry;
    audit?.failed(err, status);
  };
  // Whether some entry's change (and its audit entry, in the same commit) is already durable.
  let committed = false;
  const steps: Step[] = [];
  parsed.forEach((entry, index) => {
    if (entry instanceof HavenError) return fail(index, entry);
    try {
      steps.push(prepareStep(deps, ctx, entry));
    } catch (err) {
      fail(index, err, auditOf(entry));
    }
  });
  const alone = async (step: Step): Promise<void> => {
    const audit = auditOf(step.entry);
    try {
      const res = await router(audit.ctx, step.entry.request);
      out[step.entry.index] = routedEntry(step.entry.request, res);
      audit.done(res.status);
      if (audit.wrote) committed = true;
    } catch (err) {
      fail(step.entry.index, err, audit);
    }
  };
  for (const phase of [0, 1, 2, 3] as Phase[]) {
    const inPhase = steps.filter((s) => s.phase === phase);
    const writes = inPhase.filter(isWriteStep);
    let written = false;
    if (writes.length > 0) {
      try {
        const entries = await deps.store.transaction(ctx, (tx) => writeSteps(ctx, tx, writes));
        writes.forEach((s, i) => (out[s.entry.index] = entries[i]!));
        written = committed = true;
      } catch {
        // Retried one by one below: the error belongs to some of them only.
      }
    }
    for (const step of inPhase) if (!written || !isWriteStep(step)) await alone(step);
  }
  await recordEntries(ctx, audits, out, committed, logger);
  return out;
}

/**
 * Fail closed: no entry's PHI leaves before its audit entry is durable. When
 * the records cannot be made durable the request answers 503 — unless some
 * entry's change was already committed: a 503 would hide it and invite a
 * retry that repeats it, so then only the entries that awaited the record
 * answer 503 (no PHI), and the committed ones keep their outcome.
 */
async function recordEntries(ctx: RequestContext, audits: [number, BundleEntryAudit][], out: string[], committed: boolean, logger: Logger): Promise<void> {
  try {
    await recordBundleEntries(ctx);
  } catch (err) {
    if (!committed) throw err;
    const { entry } = errorEntry(err, logger, ctx.requestId);
    for (const [index, audit] of audits) if (audit.awaiting) out[index] = entry;
  }
}
