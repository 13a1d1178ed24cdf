import type { RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';
import type { Step } from './bundle-plan.js';
import { conditionalReferences, splitConditionalReference } from './bundle-refs.js';
import { prefetchConditionals, serializeConditions, type ConditionalCache } from './conditional.js';
import type { FhirDeps } from './deps.js';

/** The body whose references may be conditional: the resource, or a PATCH document. */
function bodyOf(step: Step): unknown {
  if (step.kind === 'create' || step.kind === 'update') return step.resource;
  if (step.kind === 'routed' && step.entry.request.method === 'PATCH') return step.entry.request.body;
  return undefined;
}

function allowed(deps: FhirDeps, ctx: RequestContext, type: string): boolean {
  if (!deps.fhir.isResourceType(type)) return false;
  try {
    deps.authorize(ctx, type, 'search');
    return true;
  } catch {
    return false; // the entry's own resolution raises the error, against that entry
  }
}

/**
 * Finds, in ONE statement, what every condition of a transaction matches:
 * conditional creates, updates and deletes, and conditional references in
 * the bodies. Runs before any write, as the entry-by-entry resolution does,
 * so both see the database as it was before the transaction; a condition the
 * caller may not search, or whose search fails, is left to that resolution.
 * An HL7 v2 message's Bundle has several (patient, encounter, practitioners):
 * one round trip and one read-audit batch instead of one each.
 */
export async function prefetchBundleConditions(deps: FhirDeps, ctx: RequestContext, tx: StoreTransaction, steps: Step[]): Promise<ConditionalCache> {
  const wanted: { type: string; criteria: string }[] = [];
  const creating: { type: string; criteria: string }[] = [];
  for (const step of steps) {
    if ((step.kind === 'create' || step.kind === 'update' || step.kind === 'delete') && step.criteria !== undefined) {
      if (allowed(deps, ctx, step.type)) wanted.push({ type: step.type, criteria: step.criteria });
      // Creates and updates (which create when nothing matches) serialize on their criteria, all
      // at once and before any search, so the searches below already see concurrent commits.
      if (step.kind !== 'delete') creating.push({ type: step.type, criteria: step.criteria });
    }
    const body = bodyOf(step);
    if (body === undefined) continue;
    for (const ref of conditionalReferences(body)) {
      const target = splitConditionalReference(ref);
      if (target && allowed(deps, ctx, target.type)) wanted.push(target);
    }
  }
  await serializeConditions(tx, ctx, creating);
  return prefetchConditionals(deps, ctx, tx, wanted);
}
