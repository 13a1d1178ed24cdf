/**
 * Composites whose group is the whole resource, answered from plain
 * parameters' rows. R4's Observation `code-value-quantity` has the expression
 * `Observation`: one group per resource, components `code` and
 * `value.as(Quantity)`, the very values the `code` and `value-quantity`
 * parameters index. Its `$0`/`$1` rows (docs/adr/0003-composite-search.md)
 * would repeat theirs value for value, all in group 1, so they are not
 * written: a search on it joins the two parameters' rows of one resource
 * (`Criterion.componentRows`). At 1M synthetic resources that is ~1.8M index
 * rows, three per Observation with a quantity value.
 *
 * Composites over a repeating element (`component-code-value-quantity`, over
 * `Observation.component`) keep their rows: there the group tells which
 * component a code and a value came from, and the plain parameters' rows do
 * not say it.
 */
import { splitUnion } from './expression-split.js';
import type { SearchParamDef } from './index-values.js';
import { normalizeTerm } from './union-params.js';

export interface ResourceCompositeInputs {
  resourceType: string;
  /** The type's parameters, as indexed. */
  defs: readonly SearchParamDef[];
  /** The expression part of a parameter that applies to the type (null: not indexed). */
  expression(code: string): string | null;
  /** The parameter a composite component names by url, if it is one of this type's own. */
  componentParam(url: string): SearchParamDef | undefined;
}

/**
 * Terms a parameter of the given type never gets a row from: R4 SampledData
 * has no `value`, which is all a quantity row is made of (to-index-values.ts),
 * so `value-quantity`'s `| (Observation.value as SampledData)` adds nothing.
 */
const ROWLESS_AS: Readonly<Record<string, ReadonlySet<string>>> = { quantity: new Set(['SampledData']) };

/** `value.as(Quantity)` → `Observation.value as Quantity`, the form the plain parameters are written in. */
function componentTerm(resourceType: string, expression: string): string | null {
  if (splitUnion(expression).length !== 1) return null;
  const asCall = /^(.*)\.as\(([A-Za-z]+)\)$/.exec(expression.trim());
  return normalizeTerm(`${resourceType}.${asCall ? `${asCall[1]} as ${asCall[2]}` : expression.trim()}`);
}

/** True when `terms` yield exactly `term`'s rows: `term` itself plus terms that never give a row of `type`. */
function yieldsExactly(terms: string[], term: string, type: string): boolean {
  if (!terms.includes(term)) return false;
  const path = term.split(' as ')[0];
  return terms.every((t) => {
    if (t === term) return true;
    const [p, asType] = t.split(' as ');
    return p === path && asType !== undefined && ROWLESS_AS[type]?.has(asType) === true;
  });
}

/**
 * Composite code → the parameter holding each component's rows (by component
 * index), for every composite of the type whose expression is the resource
 * itself and whose every component is exactly another parameter's expression.
 */
export function findResourceComposites(inputs: ResourceCompositeInputs): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const def of inputs.defs) {
    if (def.type !== 'composite' || def.component.length === 0) continue;
    const expression = inputs.expression(def.code);
    if (expression === null || normalizeTerm(expression) !== inputs.resourceType) continue;
    const holders: string[] = [];
    for (const c of def.component) {
      const param = inputs.componentParam(c.definition);
      const term = componentTerm(inputs.resourceType, c.expression);
      const own = param && param.type !== 'composite' ? inputs.expression(param.code) : null;
      if (!param || term === null || own === null || !yieldsExactly(splitUnion(own).map(normalizeTerm), term, param.type)) break;
      holders.push(param.code);
    }
    if (holders.length === def.component.length) found.set(def.code, holders);
  }
  return found;
}
