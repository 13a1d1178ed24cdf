import { auditBundleEntry, recordBundleEntries } from '../../audit/index.js';
import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';
import type { ParsedEntry } from './bundle-entries.js';
import { prepareStep, resolveStep, targetOf, type Phase, type Step } from './bundle-plan.js';
import { conditionalReferences, isPlaceholder, localReference, resolveConditionalReference, rewriteReferences } from './bundle-refs.js';
import { prefetchBundleConditions } from './bundle-prefetch.js';
import type { ConditionalCache } from './conditional.js';
import { atEntry, deletedEntry, routedEntry, writtenEntry } from './bundle-response.js';
import { isWriteStep, writeSteps, type WriteStep } from './bundle-write.js';
import type { FhirDeps } from './deps.js';
import type { FhirRouter } from './router.js';

/** Runs `work` for one entry, naming the entry in any error it throws. */
async function onEntry<T>(index: number, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw atEntry(err, index);
  }
}

/**
 * A transaction Bundle: all entries or none, in ONE database transaction.
 * Checks that need no database run first for every entry; then conditions are
 * resolved, references rewritten, and the writes of each phase go to the
 * store together. Returns the response entries in the submitted order.
 */
export async function runTransaction(deps: FhirDeps, router: FhirRouter, ctx: RequestContext, entries: ParsedEntry[]): Promise<string[]> {
  const prepared: Step[] = [];
  for (const entry of entries) prepared.push(await onEntry(entry.index, () => prepareStep(deps, ctx, entry)));
  return deps.store.transaction(ctx, async (tx) => {
    // Every condition's search in one statement; each entry then resolves from the cache as before.
    const cache = await prefetchBundleConditions(deps, ctx, tx, prepared);
    const steps: Step[] = [];
    for (const step of prepared) steps.push(await onEntry(step.entry.index, () => resolveStep(deps, ctx, tx, step, cache)));
    checkDistinctTargets(steps);
    await rewriteBundleReferences(deps, ctx, tx, steps, cache);
    const out: string[] = new Array<string>(entries.length);
    for (const group of phaseGroups(steps)) await runPhase(router, ctx, tx, group, out);
    // The entries' read records (searches, reads) before the commit, in one group-commit wait: if they
    // cannot be made durable the transaction rolls back and the request answers 503, nothing sent.
    // Its writes' entries are already in this transaction (the store's afterWrite hook).
    await recordBundleEntries(ctx);
    return out;
  });
}

/**
 * The steps in processing order. Without routed entries (PATCH, anything
 * unusual) before the reads, the DELETE, POST and PUT phases write together:
 * their targets are distinct (checkDistinctTargets) and a plain write reads
 * nothing another wrote, so the order between them cannot change the outcome,
 * and one store write costs a fixed number of statements however many
 * resources it carries. A routed entry may read what an earlier phase wrote,
 * so with one the phases stay apart.
 */
function phaseGroups(steps: Step[]): Step[][] {
  const byPhase = ([0, 1, 2, 3] as Phase[]).map((phase) => steps.filter((s) => s.phase === phase));
  if (steps.some((s) => s.kind === 'routed' && s.phase < 3)) return byPhase;
  return [[...byPhase[0]!, ...byPhase[1]!, ...byPhase[2]!], byPhase[3]!];
}

/** R4: a transaction may not touch one resource twice (its outcome would depend on order). */
function checkDistinctTargets(steps: Step[]): void {
  const seen = new Map<string, number>();
  for (const step of steps) {
    if (step.kind === 'matched' || step.phase === 3) continue;
    const target = targetOf(step);
    if (target === undefined) continue;
    const earlier = seen.get(target);
    if (earlier !== undefined) {
      throw atEntry(
        new HavenError('incorrect', 'BUNDLE_DUPLICATE_TARGET', `${target} is also the target of Bundle.entry[${earlier}]; a transaction may touch a resource only once`),
        step.entry.index,
      );
    }
    seen.set(target, step.entry.index);
  }
}

/** fullUrl → `Type/id` for every entry whose identity the server decides or knows. */
function fullUrlMap(steps: Step[], baseUrl: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const step of steps) {
    const fullUrl = step.entry.fullUrl;
    const target = targetOf(step);
    if (fullUrl === undefined || target === undefined) continue;
    const local = localReference(fullUrl, baseUrl);
    if (!isPlaceholder(fullUrl) && local === undefined) continue;
    if (map.has(fullUrl)) {
      throw atEntry(new HavenError('incorrect', 'BUNDLE_DUPLICATE_FULLURL', `fullUrl ${fullUrl} appears on more than one entry`, { expression: ['fullUrl'] }), step.entry.index);
    }
    map.set(fullUrl, target);
    // A POST ignores the id in an absolute fullUrl; relative references to it follow the new id.
    if (local !== undefined && local !== target && step.entry.request.method === 'POST') map.set(local, target);
  }
  return map;
}

/** The body whose references may need rewriting: the resource, or a PATCH document. */
function bodyOf(step: Step): unknown {
  if (step.kind === 'create' || step.kind === 'update') return step.resource;
  if (step.kind === 'routed' && step.entry.request.method === 'PATCH') return step.entry.request.body;
  return undefined;
}

/**
 * Points references at what the transaction resolved: fullUrls of other
 * entries (urn:uuid, urn:oid, absolute URLs on this base) and conditional
 * references (`Patient?identifier=…`, resolved to exactly one match).
 */
async function rewriteBundleReferences(deps: FhirDeps, ctx: RequestContext, tx: StoreTransaction, steps: Step[], cache: ConditionalCache): Promise<void> {
  const baseUrl = steps[0]?.entry.request.baseUrl ?? '';
  const map = fullUrlMap(steps, baseUrl);
  for (const step of steps) {
    const body = bodyOf(step);
    if (body === undefined) continue;
    await onEntry(step.entry.index, async () => {
      for (const ref of conditionalReferences(body)) {
        if (!map.has(ref)) map.set(ref, await resolveConditionalReference(deps, ctx, tx, ref, cache));
      }
      rewriteReferences(body, (ref) => {
        const target = map.get(ref);
        if (target !== undefined) return target;
        if (isPlaceholder(ref)) {
          throw new HavenError('incorrect', 'BUNDLE_UNRESOLVED_REFERENCE', `Reference ${ref} names no entry of this Bundle`);
        }
        return undefined;
      });
    });
  }
}

/** One phase: its plain writes in one tx.write (If-Match ones alone, for exact errors), then routed entries. */
async function runPhase(router: FhirRouter, ctx: RequestContext, tx: StoreTransaction, steps: Step[], out: string[]): Promise<void> {
  const writes = steps.filter(isWriteStep);
  const checked = writes.filter((s) => s.kind !== 'create' && s.ifMatch !== undefined);
  const plain = writes.filter((s) => !checked.includes(s));
  for (const group of [plain, ...checked.map((s) => [s])]) {
    const entries = await writeSteps(ctx, tx, group);
    group.forEach((s: WriteStep, i) => (out[s.entry.index] = entries[i]!));
  }
  for (const step of steps) {
    if (isWriteStep(step)) continue;
    const req = step.entry.request;
    if (step.kind === 'matched') {
      out[step.entry.index] = writtenEntry(req, step.stored, 200, `${step.type}/${step.stored.id} already exists; nothing created`);
    } else if (step.kind === 'delete') {
      out[step.entry.index] = deletedEntry(undefined);
    } else if (step.kind === 'routed') {
      // Its own audit scope: a search is one entry (matches, then includes), as the request alone.
      const audit = auditBundleEntry(ctx, step.entry.index, req.method, req.path);
      const res = await onEntry(step.entry.index, () => router(audit.ctx, req, tx));
      out[step.entry.index] = routedEntry(req, res);
      audit.done(res.status);
    } else {
      // resolveStep leaves no conditional write behind; reaching this is a bug (a 500 at the edge).
      throw new HavenError('fault', 'BUNDLE_UNRESOLVED_STEP', `Bundle.entry[${step.entry.index}] was not resolved`);
    }
  }
}
