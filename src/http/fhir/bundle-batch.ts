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
 * resolved (R4: a batch has no interdependencies).
 */
export async function runBatch(
  deps: FhirDeps,
  router: FhirRouter,
  ctx: RequestContext,
  parsed: (ParsedEntry | HavenError)[],
  logger: Logger,
): Promise<string[]> {
  const out: string[] = new Array<string>(parsed.length);
  const fail = (index: number, err: unknown) => (out[index] = errorEntry(err, logger, ctx.requestId));
  const steps: Step[] = [];
  parsed.forEach((entry, index) => {
    if (entry instanceof HavenError) return fail(index, entry);
    try {
      steps.push(prepareStep(deps, ctx, entry));
    } catch (err) {
      fail(index, err);
    }
  });
  const alone = async (step: Step): Promise<void> => {
    try {
      out[step.entry.index] = routedEntry(step.entry.request, await router(ctx, step.entry.request));
    } catch (err) {
      fail(step.entry.index, err);
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
        written = true;
      } catch {
        // Retried one by one below: the error belongs to some of them only.
      }
    }
    for (const step of inPhase) if (!written || !isWriteStep(step)) await alone(step);
  }
  return out;
}
