/**
 * Search parameters whose expression is exactly the union of other
 * parameters' expressions, with the same type: R4's Observation `combo-*`
 * parameters (`combo-code` is `Observation.code | Observation.component.code`,
 * i.e. `code` and `component-code`; `combo-code-value-quantity` is
 * `code-value-quantity` and `component-code-value-quantity`). Such a
 * parameter's index rows would repeat its sources' rows value for value, so
 * they are not written: a search on it reads the sources' rows instead
 * (`Criterion.rowParams`). At 1M synthetic resources that is 5.4M of the
 * 16M index rows of Observations, a third, every one of them written and
 * indexed on ingest.
 *
 * Only non-reference types (includes and chains name reference parameters'
 * rows directly), and composites only from composites whose components have
 * the same kinds and the same expressions, so each group root yields the
 * same component rows under either name.
 */
import { splitUnion } from './expression-split.js';
import type { SearchParamDef } from './index-values.js';

/** A term of a union without its outer parentheses and with single spaces: `(X.value as Quantity)` → `X.value as Quantity`. */
export function normalizeTerm(term: string): string {
  let t = term.trim();
  while (t.startsWith('(') && t.endsWith(')') && balanced(t.slice(1, -1))) t = t.slice(1, -1).trim();
  return t.replace(/\s+/g, ' ');
}

function balanced(s: string): boolean {
  let depth = 0;
  for (const ch of s) {
    if (ch === '(') depth++;
    else if (ch === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

export interface UnionInputs {
  /** The type's parameters, as indexed. */
  defs: readonly SearchParamDef[];
  /** The expression part of a parameter that applies to the type (null: not indexed). */
  expression(code: string): string | null;
  /** A composite component's parameter type by its definition url. */
  componentType(url: string): string | undefined;
}

/** What makes two composites' rows interchangeable per group root: component kinds and expressions. */
function componentShape(def: SearchParamDef, componentType: UnionInputs['componentType']): string {
  return JSON.stringify(def.component.map((c) => [componentType(c.definition) ?? '?', normalizeTerm(c.expression)]));
}

/**
 * Parameter code → the codes whose rows stand for it, for every parameter of
 * the type that is such a union. Sources are never unions themselves: the
 * parameters are classified by number of terms, fewest first, so a union of
 * unions resolves to the parameters that hold rows.
 */
export function findUnionParams(inputs: UnionInputs): Map<string, string[]> {
  const terms = new Map<string, Set<string>>();
  for (const def of inputs.defs) {
    if (def.type === 'reference' || def.type === 'special') continue;
    const expression = inputs.expression(def.code);
    if (expression !== null) terms.set(def.code, new Set(splitUnion(expression).map(normalizeTerm)));
  }
  const defs = inputs.defs.filter((d) => terms.has(d.code)).sort((a, b) => terms.get(a.code)!.size - terms.get(b.code)!.size);
  const shape = (d: SearchParamDef) => (d.type === 'composite' ? componentShape(d, inputs.componentType) : '');
  const unions = new Map<string, string[]>();
  const holders: SearchParamDef[] = [];
  for (const def of defs) {
    const own = terms.get(def.code)!;
    const sources = own.size < 2 ? null : coverOf(own, holders.filter((h) => h.type === def.type && shape(h) === shape(def)), terms);
    if (sources) unions.set(def.code, sources);
    else holders.push(def);
  }
  return unions;
}

/**
 * Sources whose terms are a strict subset of `own` and together cover it,
 * largest first; null when they do not. Strict subsets: a cover always takes
 * two or more.
 */
function coverOf(own: Set<string>, candidates: SearchParamDef[], terms: Map<string, Set<string>>): string[] | null {
  const subsets = candidates
    .map((c) => ({ code: c.code, terms: [...terms.get(c.code)!] }))
    .filter((c) => c.terms.length < own.size && c.terms.every((t) => own.has(t)))
    .sort((a, b) => b.terms.length - a.terms.length);
  const covered = new Set<string>();
  const sources: string[] = [];
  for (const c of subsets) {
    if (c.terms.every((t) => covered.has(t))) continue;
    for (const t of c.terms) covered.add(t);
    sources.push(c.code);
  }
  return covered.size === own.size ? sources.sort() : null;
}
