/**
 * The WHERE clause of a page statement over `resource r`: tenant, type, live,
 * every criterion, the compartment limits and the access-policy filter.
 * Shared by the page, count and `_has`-last statements so they cannot drift.
 */
import type { Criterion, SearchQuery } from './query.js';
import { criterionCondition, scopeOf } from './compile-criterion.js';
import { compartmentCondition } from './compartment.js';
import type { DrivenSort } from './compile-sort.js';
import type { SqlParams } from './sql-params.js';
import type { Scope } from './compile-link.js';
import { patientFusion, patientTokenSet } from './patient-token.js';

export function whereClause(query: SearchQuery, p: SqlParams, driven?: DrivenSort | null): string {
  const conditions = ['r.tenant_id = $1', 'r.resource_type = $2', 'NOT r.deleted'];
  const covered = driven?.covered;
  const scope = scopeOf(query);
  // Keyed tokens beside a Patient anchor read idx_token_patient; the anchor is implied (patient-token.ts).
  const fusion = patientFusion(query, covered?.criterion);
  for (const c of query.criteria) {
    if (c === covered?.criterion) conditions.push(covered.condition);
    else if (fusion?.tokens.has(c)) conditions.push(`r.id IN (${patientTokenSet(c, fusion.anchor, p, scope.type)})`);
    else if (fusion?.source !== c) conditions.push(criterionCondition(c, p, scope));
  }
  if (query.compartment && fusion?.source !== 'compartment') conditions.push(compartmentCondition(query.compartment, query.resourceType, p));
  if (query.alsoIn && fusion?.source !== 'alsoIn') conditions.push(compartmentCondition(query.alsoIn, query.resourceType, p));
  if (query.restrict) conditions.push(restrictCondition(query.restrict, p, scope));
  return conditions.join('\n  AND ');
}

/** Access-policy filter: a resource passes when it matches every criterion of at least one group. */
function restrictCondition(groups: Criterion[][], p: SqlParams, scope: Scope): string {
  if (groups.length === 0) return 'FALSE';
  const ors = groups.map((g) => (g.length === 0 ? 'TRUE' : g.map((c) => criterionCondition(c, p, scope)).join(' AND ')));
  return `((${ors.join(') OR (')}))`;
}
