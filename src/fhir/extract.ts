import { compileComposite } from './composite-values.js';
import { compileFastPath } from './fast-path.js';
import { compileFhirPath } from './fhirpath-eval.js';
import type { Evaluator } from './fhirpath-eval.js';
import type { IndexValue, SearchParamDef, SearchParamType } from './index-values.js';
import type { HavenSearchParamRegistry } from './search-registry.js';
import { appendIndexValues, supportsParamType } from './to-index-values.js';
import { valueSetIndexValues } from './valueset-values.js';
import { withLocalTargets } from './reference.js';
import { HavenError } from '../kernel/errors.js';

export interface Indexer {
  /**
   * Index values for every supported search parameter of the resource's type.
   * `container`: the resource `resource` is contained in, whose other contained
   * resources its `#id` references name (and `#` the container itself).
   */
  extract(resource: object, container?: object): IndexValue[];
}

export interface IndexerOptions {
  /** Walk simple paths directly instead of through fhirpath.js (default true). */
  fastPath?: boolean;
}

interface CompiledParam {
  code: string;
  /** Appends the parameter's index values for one resource. */
  run(resource: object, out: IndexValue[]): void;
}

interface TypePlan {
  /** The registry's list this plan was built from; a new list means a new parameter. */
  source: SearchParamDef[];
  params: CompiledParam[];
}

function dedupKey(v: IndexValue): string {
  return v.group === undefined ? valueKey(v) : `${valueKey(v)}\u0000${v.group}`;
}

function valueKey(v: IndexValue): string {
  switch (v.type) {
    case 'string':
    case 'uri':
      return `${v.type}\u0000${v.param}\u0000${v.value}`;
    case 'token':
      return `t\u0000${v.param}\u0000${v.system}\u0000${v.code}\u0000${v.text}`;
    case 'date':
      return `d\u0000${v.param}\u0000${v.low}\u0000${v.high}`;
    case 'number':
      return `n\u0000${v.param}\u0000${v.value}`;
    case 'quantity':
      return `q\u0000${v.param}\u0000${v.value}\u0000${v.system}\u0000${v.code}\u0000${v.unit}`;
    case 'reference':
      return `r\u0000${v.param}\u0000${v.targetType}\u0000${v.targetId}\u0000${v.url}\u0000${v.version}\u0000${v.identifierSystem}\u0000${v.identifierValue}`;
  }
}

/** Equal as the text of `dedupKey` compares them (`null` and 'null' alike), without building it. */
function eq(a: unknown, b: unknown): boolean {
  return a === b || String(a) === String(b);
}

/** Whether `dedupKey(a) === dedupKey(b)`, for two values of one parameter. */
function sameValue(a: IndexValue, b: IndexValue): boolean {
  if (a.type !== b.type || !eq(a.group, b.group) || (a.group === undefined) !== (b.group === undefined)) return false;
  switch (a.type) {
    case 'string':
    case 'uri':
      return eq(a.value, (b as typeof a).value);
    case 'token': {
      const o = b as typeof a;
      return eq(a.code, o.code) && eq(a.system, o.system) && eq(a.text, o.text);
    }
    case 'date': {
      const o = b as typeof a;
      return eq(a.low, o.low) && eq(a.high, o.high);
    }
    case 'number':
      return eq(a.value, (b as typeof a).value);
    case 'quantity': {
      const o = b as typeof a;
      return eq(a.value, o.value) && eq(a.system, o.system) && eq(a.code, o.code) && eq(a.unit, o.unit);
    }
    case 'reference': {
      const o = b as typeof a;
      return (
        eq(a.targetId, o.targetId) && eq(a.targetType, o.targetType) && eq(a.url, o.url) && eq(a.version, o.version) &&
        eq(a.identifierSystem, o.identifierSystem) && eq(a.identifierValue, o.identifierValue)
      );
    }
  }
}

/** Past this many values of one parameter, repeats are found by key (a set) rather than by comparison. */
const SCAN_LIMIT = 16;

/**
 * Drops repeats (FHIRPath unions are sets; the index needs each row once),
 * keeping the first of each. Values of different parameters never repeat each
 * other, and most parameters give one or two values: those are compared field
 * by field, which costs no key string per value.
 */
function unique(values: IndexValue[]): IndexValue[] {
  const byParam = new Map<string, IndexValue[]>();
  let keys: Map<string, Set<string>> | undefined;
  const out: IndexValue[] = [];
  for (const v of values) {
    const kept = byParam.get(v.param);
    if (kept === undefined) {
      byParam.set(v.param, [v]);
      out.push(v);
      continue;
    }
    if (kept.length < SCAN_LIMIT) {
      if (kept.some((k) => sameValue(k, v))) continue;
      kept.push(v);
      out.push(v);
      continue;
    }
    keys ??= new Map();
    let seen = keys.get(v.param);
    if (seen === undefined) keys.set(v.param, (seen = new Set(kept.map(dedupKey))));
    const k = dedupKey(v);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(v);
    }
  }
  return out;
}

/** Evaluation errors may quote resource content, so only the parameter is named. */
function evaluate(p: CompiledParam, resource: object, resourceType: string, out: IndexValue[]): void {
  try {
    p.run(resource, out);
  } catch {
    throw new HavenError('unprocessable', 'SEARCH_EXTRACT_FAILED', `Search parameter ${p.code} could not be evaluated on ${resourceType}`);
  }
}

function simpleParam(code: string, type: SearchParamType, fn: Evaluator): CompiledParam {
  return {
    code,
    run(resource, out) {
      for (const found of fn(resource)) appendIndexValues(type, code, found, out);
    },
  };
}

/**
 * Searched through the resource row's own columns (src/search/parse-link.ts),
 * never through index rows: extracting them cost two rows per resource.
 */
const COLUMN_PARAMS = new Set(['_id', '_lastUpdated']);

/**
 * Extracts search-index values. Each (type, parameter) expression is
 * compiled once, on first use of the type, and reused for every resource.
 */
export function createIndexer(registry: HavenSearchParamRegistry, options: IndexerOptions = {}): Indexer {
  const fast = options.fastPath !== false;
  const plans = new Map<string, TypePlan>();

  function compile(resourceType: string, def: SearchParamDef): CompiledParam | null {
    if (COLUMN_PARAMS.has(def.code)) return null;
    // A union of other parameters (union-params.ts): its sources' rows answer for it.
    if (registry.rowParams(resourceType, def.code) !== undefined) return null;
    // A whole-resource composite (resource-composites.ts): its components' parameters' rows answer for it.
    if (registry.componentRows(resourceType, def.code) !== undefined) return null;
    if (def.type !== 'composite' && !supportsParamType(def.type)) return null;
    const expression = registry.expression(resourceType, def.code);
    if (!expression) return null;
    if (def.type === 'composite') {
      const composite = compileComposite(def, resourceType, expression, (url) => registry.byUrl(url), fast);
      return composite ? { code: def.code, run: (resource, out) => out.push(...composite(resource)) } : null;
    }
    const evaluate = (fast ? compileFastPath(expression, resourceType) : null) ?? compileFhirPath(expression);
    return simpleParam(def.code, def.type, evaluate);
  }

  function plan(resourceType: string): TypePlan {
    const source = registry.forType(resourceType);
    const existing = plans.get(resourceType);
    if (existing && existing.source === source) return existing;
    const params: CompiledParam[] = [];
    for (const def of source) {
      const compiled = compile(resourceType, def);
      if (compiled) params.push(compiled);
    }
    const built = { source, params };
    plans.set(resourceType, built);
    return built;
  }

  return {
    extract(resource, container) {
      const resourceType = (resource as { resourceType?: unknown }).resourceType;
      if (typeof resourceType !== 'string') return [];
      const out: IndexValue[] = valueSetIndexValues(resource);
      const params = plan(resourceType).params;
      // `resolve() is Patient` of a local reference (`#id`) asks the type of the contained resource it names.
      withLocalTargets(container ?? resource, () => {
        for (const p of params) evaluate(p, resource, resourceType, out);
      });
      return unique(out);
    },
  };
}
