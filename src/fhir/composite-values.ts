import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import { splitUnion } from './expression-split.js';
import { compileFastPath, compileFastPathAt } from './fast-path.js';
import { prepareExpression } from './fhirpath-eval.js';
import type { Evaluator } from './fhirpath-eval.js';
import type { IndexValue, SearchParamDef, SearchParamType } from './index-values.js';
import { appendIndexValues, supportsParamType } from './to-index-values.js';
import type { TypedValue } from './to-index-values.js';

/**
 * Composite parameters (docs/adr/0003-composite-search.md). The composite's
 * expression selects element instances (the Observation itself, each
 * Observation.component, …); every component expression is evaluated on one
 * instance at a time, and each resulting value is stored under
 * `<code>$<component index>` with `group` = the instance's ordinal. A search
 * then demands all components in the same group, so `component-code-value-
 * quantity=8480-6$gt100` cannot pair one component's code with another's
 * value.
 */
export type CompositeEvaluator = (resource: object) => IndexValue[];

interface Node {
  data: unknown;
  path: string;
  fhirNodeDataType: string | null;
}

interface Component {
  index: number;
  type: SearchParamType;
  /** As written (for the fast path, which reads `as(Type)` itself) and prepared for fhirpath.js. */
  source: string;
  expression: string;
}

type Compiled = (data: unknown, env?: Record<string, unknown>) => unknown;

const options = { resolveInternalTypes: false };

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && 'data' in v && 'path' in v;
}

function plain(v: unknown): unknown {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && v.constructor !== Object) {
    const n = Number(String(v));
    return Number.isNaN(n) ? String(v) : n;
  }
  return v;
}

function typed(item: unknown): TypedValue | null {
  if (!isNode(item)) return item === null || item === undefined ? null : { data: plain(item), type: '' };
  const data = plain(item.data);
  const t = (item.fhirNodeDataType ?? '').replace(/^System\./, '').replace(/^FHIR\./, '');
  return data === null || data === undefined ? null : { data, type: t === 'String' ? 'string' : t };
}

function results(fn: Compiled, data: unknown, env?: Record<string, unknown>): unknown[] {
  const r = fn(data, env);
  return Array.isArray(r) ? r : [r];
}

/** Finds the element instances of one base part and evaluates a component on one of them. */
interface BasePlan {
  instances(resource: object): { data: unknown; path: string }[];
  component(c: Component, path: string): (data: unknown, env: Record<string, unknown>) => TypedValue[];
}

const PLAIN_PATH = /^[A-Z][A-Za-z]+(?:\.[a-z][A-Za-z0-9]*)*$/;

/** Plain base paths with simple components walk the JSON directly (fast-path.ts), ~10× cheaper than fhirpath.js. */
function fastPlan(part: string, resourceType: string, components: Component[]): BasePlan | null {
  if (!PLAIN_PATH.test(part) || part.split('.')[0] !== resourceType) return null;
  const base: Evaluator | null = part === resourceType ? (r) => [{ data: r, type: resourceType }] : compileFastPath(part, resourceType);
  const fns = new Map<number, Evaluator>();
  for (const c of components) {
    const fn = base ? compileFastPathAt(c.source, part) : null;
    if (!fn) return null;
    fns.set(c.index, fn);
  }
  return {
    instances: (resource) => base!(resource).map((v) => ({ data: v.data, path: part })),
    component: (c) => (data) => fns.get(c.index)!(data as object),
  };
}

function fhirpathPlan(part: string): BasePlan {
  const base = fhirpath.compile(part, r4model, options) as Compiled;
  // Component expressions are typed relative to the instance's path (value.as(Quantity) needs it).
  const byBase = new Map<string, Compiled>();
  return {
    instances: (resource) => results(base, resource).flatMap((n) => (isNode(n) ? [{ data: n.data, path: n.path }] : [])),
    component: (c, path) => {
      const key = `${path}\u0000${c.index}`;
      let fn = byBase.get(key);
      if (!fn) byBase.set(key, (fn = fhirpath.compile({ base: path, expression: c.expression }, r4model, options) as Compiled));
      const compiled = fn;
      return (data, env) => results(compiled, data, env).flatMap((item) => {
        const v = typed(item);
        return v ? [v] : [];
      });
    },
  };
}

/** Compiles a composite for one resource type; null when a component's type cannot be indexed. */
export function compileComposite(
  def: SearchParamDef,
  resourceType: string,
  expression: string,
  byUrl: (url: string) => SearchParamDef | undefined,
  fast = true,
): CompositeEvaluator | null {
  const components: Component[] = [];
  for (const [index, c] of def.component.entries()) {
    const type = byUrl(c.definition)?.type;
    if (type === undefined || !supportsParamType(type) || c.expression === '') return null;
    components.push({ index, type, source: c.expression, expression: prepareExpression(c.expression) });
  }
  if (components.length === 0) return null;
  const plans = splitUnion(prepareExpression(expression)).map((part) => (fast ? fastPlan(part.trim(), resourceType, components) : null) ?? fhirpathPlan(part));
  const params = components.map((c) => `${def.code}$${c.index}`);
  return (resource) => {
    const out: IndexValue[] = [];
    // Components may name the whole resource (%resource.referenceSeq.chromosome) while evaluated on one instance.
    const env = { resource, rootResource: resource };
    let group = 0;
    for (const plan of plans) {
      for (const instance of plan.instances(resource)) {
        group++;
        const rows: IndexValue[] = [];
        let complete = true;
        for (const [i, c] of components.entries()) {
          const found: IndexValue[] = [];
          for (const value of plan.component(c, instance.path)(instance.data, env)) {
            appendIndexValues(c.type, params[i]!, value, found);
          }
          // A composite matches only when every component matches in one group, so a group
          // missing a component can never match: storing its other components would only
          // cost index rows (an Observation with valueQuantity wrote code-value-date,
          // -string and -concept rows for nothing).
          if (found.length === 0) {
            complete = false;
            break;
          }
          // The values are fresh objects (appendIndexValues): the group is set on them, not on copies.
          for (const v of found) {
            v.group = group;
            rows.push(v);
          }
        }
        if (complete) out.push(...rows);
      }
    }
    return out;
  };
}
