/**
 * Runs `_include`/`_revinclude` for one page: one statement per round (see
 * search/include-compile.ts), at most 1 + MAX_ITERATIONS rounds. Rows come
 * through `reader.query`, so included resources are decoded and pass the
 * afterRead hooks (audit) exactly like matches; a search request's audit
 * entry is one for its page and every round (src/audit/store-hooks.ts).
 */
import type { RequestContext } from '../kernel/index.js';
import type { SearchParamRegistry } from '../fhir/index-values.js';
import { compileIncludeRound, type CommonTargets, type CompartmentLimit, type IncludeSpec } from '../search/index.js';
import type { StoredResource } from './model.js';
import type { ResourceReader } from './resource-store.js';

/** Rounds of `:iterate` after the first; bounds work on deep or cyclic graphs (cycles also stop on already-seen resources). */
export const MAX_INCLUDE_ITERATIONS = 3;

export interface IncludeResult {
  included: StoredResource[];
  /** More resources matched the includes than `limit`; the rest were left out. */
  truncated: boolean;
  /** Statements run (one per round). */
  rounds: number;
}

const keyOf = (r: { resourceType: string; id: string }) => `${r.resourceType}/${r.id}`;

function byType(resources: readonly StoredResource[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const r of resources) {
    const ids = out.get(r.resourceType);
    if (ids) ids.push(r.id);
    else out.set(r.resourceType, [r.id]);
  }
  return out;
}

export async function runIncludes(
  ctx: RequestContext,
  reader: ResourceReader,
  matches: readonly StoredResource[],
  specs: readonly IncludeSpec[],
  o: { registry: SearchParamRegistry; readable: readonly string[] | null; limit: number; within?: CompartmentLimit; commonTargets?: CommonTargets },
): Promise<IncludeResult> {
  const seen = new Set(matches.map(keyOf));
  const included: StoredResource[] = [];
  let frontier: readonly StoredResource[] = matches;
  let rounds = 0;
  let truncated = false;
  for (let round = 0; round <= MAX_INCLUDE_ITERATIONS && frontier.length > 0 && !truncated; round++) {
    const active = round === 0 ? specs : specs.filter((s) => s.iterate);
    const room = o.limit - included.length;
    if (active.length === 0 || room <= 0) break;
    const compiled = compileIncludeRound(active, byType(frontier), {
      tenant: ctx.tenant,
      registry: o.registry,
      readable: o.readable,
      exclude: [...seen],
      limit: room + 1,
      ...(o.within ? { within: o.within } : {}),
      ...(o.commonTargets ? { commonTargets: o.commonTargets } : {}),
    });
    if (compiled === null) break;
    rounds++;
    const found = await reader.query(ctx, compiled);
    truncated = found.length > room;
    const fresh = found.slice(0, room).filter((r) => !seen.has(keyOf(r)));
    for (const r of fresh) seen.add(keyOf(r));
    included.push(...fresh);
    frontier = fresh;
  }
  return { included, truncated, rounds };
}
