import type { IndexValue } from './index-values.js';

/**
 * Index rows that let token `:in` / `:not-in` run inside one SQL statement:
 * a stored ValueSet lists its codes under the internal parameters
 * `_vs-code` (token: system + code) and `_vs-system` (uri: a whole code
 * system included without filters). The search compiler joins against
 * these rows by the ValueSet's `url`, so a ValueSet written (or changed)
 * on the server takes effect with its own transaction.
 *
 * Covered: compose.include with concept lists or a whole system, and
 * expansion.contains (nested). Not covered: include.filter (needs a code
 * system hierarchy), include.valueSet (imports) and compose.exclude — a
 * ValueSet using them is indexed by its other parts only (docs/search.md).
 */
export const VS_CODE_PARAM = '_vs-code';
export const VS_SYSTEM_PARAM = '_vs-system';
/** CodeSystem hierarchy pairs: `$0` the ancestor-or-self, `$1` the descendant, one group per pair (ADR 0003). */
export const CS_ANCESTOR_PARAM = '_cs-below$0';
export const CS_DESCENDANT_PARAM = '_cs-below$1';
/** Bounds the pairs one CodeSystem writes (concepts × depth); larger hierarchies belong in a terminology server. */
const MAX_HIERARCHY_PAIRS = 50_000;

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown): Obj[] {
  return Array.isArray(v) ? v.filter(isObj) : [];
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function code(system: string | null, value: string): IndexValue {
  return { type: 'token', param: VS_CODE_PARAM, system, code: value, text: null };
}

function addInclude(include: Obj, out: IndexValue[]): void {
  const system = text(include['system']);
  const concepts = list(include['concept']);
  for (const c of concepts) {
    const value = text(c['code']);
    if (value !== null) out.push(code(system, value));
  }
  const whole = concepts.length === 0 && list(include['filter']).length === 0 && include['valueSet'] === undefined;
  if (whole && system !== null) out.push({ type: 'uri', param: VS_SYSTEM_PARAM, value: system });
}

function addContains(contains: Obj[], out: IndexValue[], depth: number): void {
  if (depth > 32) return;
  for (const c of contains) {
    const value = text(c['code']);
    if (value !== null && c['abstract'] !== true) out.push(code(text(c['system']), value));
    addContains(list(c['contains']), out, depth + 1);
  }
}

function hierarchyPairs(system: string, concepts: Obj[], ancestors: string[], out: IndexValue[], group: { n: number }): void {
  for (const c of concepts) {
    const value = text(c['code']);
    if (value === null) continue;
    const line = [...ancestors, value];
    for (const ancestor of line) {
      if (group.n >= MAX_HIERARCHY_PAIRS) return;
      group.n++;
      out.push({ type: 'token', param: CS_ANCESTOR_PARAM, system, code: ancestor, text: null, group: group.n });
      out.push({ type: 'token', param: CS_DESCENDANT_PARAM, system, code: value, text: null, group: group.n });
    }
    hierarchyPairs(system, list(c['concept']), line, out, group);
  }
}

/**
 * Token `:below` / `:above` on codes: a CodeSystem stored on the server lists
 * every (ancestor-or-self, descendant) pair of its nested `concept` tree.
 */
function codeSystemIndexValues(cs: Obj): IndexValue[] {
  const system = text(cs['url']);
  if (system === null) return [];
  const out: IndexValue[] = [];
  hierarchyPairs(system, list(cs['concept']), [], out, { n: 0 });
  return out;
}

/** The `_vs-*` rows of a ValueSet and the `_cs-below` rows of a CodeSystem; empty for any other resource. */
export function valueSetIndexValues(resource: object): IndexValue[] {
  const vs = resource as Obj;
  if (vs['resourceType'] === 'CodeSystem') return codeSystemIndexValues(vs);
  if (vs['resourceType'] !== 'ValueSet') return [];
  const out: IndexValue[] = [];
  const compose = vs['compose'];
  if (isObj(compose)) for (const include of list(compose['include'])) addInclude(include, out);
  const expansion = vs['expansion'];
  if (isObj(expansion)) addContains(list(expansion['contains']), out, 0);
  return out;
}
