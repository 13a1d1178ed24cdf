/**
 * Which search statements may run with a generic plan. Planning is about half
 * of a search statement's PostgreSQL CPU (docs/search.md, "CPU per search"),
 * and a generic plan is made once per connection. ADR 0002 rules generic
 * plans out in general: they cannot tell a patient's few Observations from a
 * LOINC code's many, and picked the wrong join order (2.6 s against 0.8 ms).
 *
 * A page is "plan-stable" when every value in it selects by identity: `_id`,
 * or a literal reference (`patient=Patient/123`, a compartment), and at most
 * one reference target drives it. The planner
 * estimates such a value from the column's statistics whatever the value is,
 * as long as it is not one of the most common ones, so the generic plan is
 * the plan it would make with the values. Those most common targets (an
 * Organization on half the store) are the exception: the caller passes them
 * in, and a page naming one of them is planned with its values as before.
 * Token, string, date, number, quantity, uri, chains, `_has`, composites,
 * access-policy filters and sorting by a value are never plan-stable.
 */
import type { Criterion, SearchQuery } from './query.js';

/** Ids of reference targets common enough to need a custom plan (the statistics' most common values). */
export interface CommonTargets {
  has(id: string): boolean;
}

const NO_COMMON_TARGETS: CommonTargets = { has: () => false };

/** Whether `query`'s page statement plans the same whatever its values (see above). */
export function hasValueFreePlan(query: SearchQuery, common: CommonTargets = NO_COMMON_TARGETS): boolean {
  if (query.restrict !== undefined) return false;
  if (query.sort.some((k) => k.kind !== 'id')) return false;
  // Without a selective criterion the generic plan guesses LIMIT $n at a tenth of the table and may sort it all.
  if (query.criteria.length === 0 && query.compartment === undefined) return false;
  if (!query.criteria.every(selectsByIdentity)) return false;
  // The reference lookups, each a set of target ids: one drives the plan, or several that name the same one
  // target (a patient's compartment and `patient=` that patient). Two different targets could each be the
  // selective one, and which to drive from is the choice a generic plan cannot make (ADR 0002).
  const lookups = [
    ...query.criteria.filter((c) => c.kind === 'reference').map((c) => c.values.flatMap((v) => (v.kind === 'reference' && v.id !== null ? [v.id] : []))),
    ...[query.compartment, query.alsoIn].flatMap((f) => (f ? [[f.id]] : [])),
  ];
  if (lookups.flat().some((id) => common.has(id))) return false;
  return lookups.length <= 1 || lookups.every((ids) => ids.length === 1 && ids[0] === lookups[0]![0]);
}

function selectsByIdentity(c: Criterion): boolean {
  if (c.values.length === 0) return false;
  if (c.kind === 'id') return c.modifier === null && c.values.every((v) => v.kind === 'token' && v.code !== null);
  if (c.kind !== 'reference' || (c.modifier !== null && c.modifier !== 'type')) return false;
  return c.values.every((v) => v.kind === 'reference' && v.url === null && v.id !== null);
}
