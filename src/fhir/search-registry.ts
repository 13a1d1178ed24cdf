import { HavenError } from '../kernel/errors.js';
import { expressionForType } from './expression-split.js';
import type { SearchParamDef, SearchParamRegistry, SearchParamType } from './index-values.js';
import { findResourceComposites } from './resource-composites.js';
import { findUnionParams } from './union-params.js';

/** Types that derive from Resource but not DomainResource (R4). */
const NON_DOMAIN_RESOURCES = new Set(['Bundle', 'Binary', 'Parameters']);
const PARAM_TYPES: ReadonlySet<string> = new Set<SearchParamType>([
  'number', 'date', 'string', 'token', 'reference', 'composite', 'quantity', 'uri', 'special',
]);

export interface HavenSearchParamRegistry extends SearchParamRegistry {
  /** The expression part of `code` that applies to `resourceType` (multi-base split). */
  expression(resourceType: string, code: string): string | null;
  /** Adds or replaces a parameter from a SearchParameter resource (custom parameters at run time). */
  register(searchParameter: unknown): SearchParamDef;
  /** A parameter by its canonical url (composite components name theirs by url). */
  byUrl(url: string): SearchParamDef | undefined;
  /** The official (built-in) parameter with this code for the type, ignoring custom ones. */
  builtin(resourceType: string, code: string): SearchParamDef | undefined;
  /** Replaces the whole custom layer (run-time SearchParameters); built-in parameters are never touched. */
  setCustom(defs: readonly SearchParamDef[]): void;
  /** Changes whenever the custom layer does: what was derived from the parameter list must be rebuilt. */
  readonly generation: number;
  /**
   * The parameters whose index rows stand for `code` on `resourceType`, when
   * it is a union of them (union-params.ts): it has no rows of its own.
   */
  rowParams(resourceType: string, code: string): readonly string[] | undefined;
  /**
   * For a composite whose group is the whole resource (resource-composites.ts):
   * the parameter whose rows hold each component, by component index. It has
   * no rows of its own.
   */
  componentRows(resourceType: string, code: string): readonly string[] | undefined;
  onlyTarget(resourceType: string, code: string): string | undefined;
}

export interface RegistryOptions {
  /**
   * Parameters that must keep rows of their own (blind-indexed ones: their
   * tags are keyed by parameter, so another's rows cannot answer for them).
   * A union is kept whole when it or any of its sources is named here, and so
   * is a whole-resource composite when it or a component's parameter is.
   */
  ownRows?: (resourceType: string, code: string) => boolean;
}

interface Entry {
  def: SearchParamDef;
  /** Per-type expression, split lazily and memoised. */
  expressions: Map<string, string | null>;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Parses an untrusted SearchParameter resource; every problem is named. */
export function parseSearchParameter(sp: unknown): SearchParamDef {
  const r = (typeof sp === 'object' && sp !== null ? sp : {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (r['resourceType'] !== 'SearchParameter') problems.push('resourceType must be SearchParameter');
  const code = text(r['code']);
  if (!code || !/^[A-Za-z_][A-Za-z0-9_-]*$/.test(code)) problems.push('code is missing or invalid');
  const type = text(r['type']);
  if (!type || !PARAM_TYPES.has(type)) problems.push('type is missing or invalid');
  const base = strings(r['base']);
  if (base.length === 0) problems.push('base is missing');
  if (problems.length > 0) {
    throw new HavenError('unprocessable', 'SEARCH_PARAM_INVALID', `Invalid SearchParameter: ${problems.join('; ')}`);
  }
  const component = Array.isArray(r['component']) ? (r['component'] as Record<string, unknown>[]) : [];
  return {
    url: text(r['url']) ?? `urn:haven:search-parameter:${code}`,
    code: code as string,
    type: type as SearchParamType,
    base,
    expression: text(r['expression']),
    target: strings(r['target']),
    component: component.map((c) => ({ definition: String(c['definition'] ?? ''), expression: String(c['expression'] ?? '') })),
  };
}

function commonBases(resourceType: string): string[] {
  return NON_DOMAIN_RESOURCES.has(resourceType) ? ['Resource'] : ['Resource', 'DomainResource'];
}

/** Parameters by base type; type-specific entries win over Resource/DomainResource ones. */
function createParamTable() {
  const byBase = new Map<string, Map<string, Entry>>();
  const forTypeCache = new Map<string, SearchParamDef[]>();
  return {
    add(def: SearchParamDef): void {
      for (const base of def.base) {
        let table = byBase.get(base);
        if (!table) byBase.set(base, (table = new Map()));
        table.set(def.code, { def, expressions: new Map() });
      }
      forTypeCache.clear();
    },
    entry(resourceType: string, code: string): Entry | undefined {
      const own = byBase.get(resourceType)?.get(code);
      if (own) return own;
      for (const base of commonBases(resourceType)) {
        const common = byBase.get(base)?.get(code);
        if (common) return common;
      }
      return undefined;
    },
    forType(resourceType: string): SearchParamDef[] {
      const cached = forTypeCache.get(resourceType);
      if (cached) return cached;
      const merged = new Map<string, SearchParamDef>();
      for (const base of [...commonBases(resourceType), resourceType]) {
        for (const [code, e] of byBase.get(base) ?? []) merged.set(code, e.def);
      }
      const list = [...merged.values()];
      forTypeCache.set(resourceType, list);
      return list;
    },
  };
}

/**
 * Search parameters per resource type from the official SearchParameter
 * definitions plus custom ones registered at run time. Parameters with base
 * Resource/DomainResource (`_id`, `_lastUpdated`, `_tag`, …) apply to every
 * (domain) resource type; a type-specific parameter with the same code wins.
 * Custom parameters live in a separate layer (`setCustom`, `register`) over
 * the immutable built-ins; `forType` returns a new list after a change, which
 * tells the indexer to recompile that type.
 */
export function createSearchParamRegistry(
  defs: { resourceTypes: readonly string[]; searchParams: readonly SearchParamDef[] },
  options: RegistryOptions = {},
): HavenSearchParamRegistry {
  const known = new Set(defs.resourceTypes);
  const builtins = createParamTable();
  const builtinUrls = new Map<string, SearchParamDef>();
  for (const def of defs.searchParams) {
    builtins.add(def);
    builtinUrls.set(def.url, def);
  }
  // The custom layer is rebuilt wholesale on every change, so readers never see half an update.
  let custom = createParamTable();
  let customUrls = new Map<string, SearchParamDef>();
  let customCount = 0;
  let generation = 0;
  let forTypeCache = new Map<string, SearchParamDef[]>();
  const entry = (resourceType: string, code: string): Entry | undefined =>
    customCount === 0 ? builtins.entry(resourceType, code) : (custom.entry(resourceType, code) ?? builtins.entry(resourceType, code));

  function forType(resourceType: string): SearchParamDef[] {
    if (customCount === 0) return builtins.forType(resourceType);
    const cached = forTypeCache.get(resourceType);
    if (cached) return cached;
    const merged = new Map<string, SearchParamDef>();
    for (const d of builtins.forType(resourceType)) merged.set(d.code, d);
    for (const d of custom.forType(resourceType)) merged.set(d.code, d);
    const list = [...merged.values()];
    forTypeCache.set(resourceType, list);
    return list;
  }

  // Unions among the built-in parameters, per type, found on first use. Custom parameters never join one.
  const unionsByType = new Map<string, Map<string, string[]>>();
  function builtinUnions(resourceType: string): Map<string, string[]> {
    let unions = unionsByType.get(resourceType);
    if (unions) return unions;
    unions = findUnionParams({
      defs: builtins.forType(resourceType),
      expression: (code) => builtinExpression(resourceType, code),
      componentType: (url) => builtinUrls.get(url)?.type,
    });
    const ownRows = options.ownRows;
    if (ownRows) {
      for (const [code, sources] of unions) {
        if ([code, ...sources].some((c) => ownRows(resourceType, c))) unions.delete(code);
      }
    }
    unionsByType.set(resourceType, unions);
    return unions;
  }

  // Whole-resource composites read plain parameters' rows (resource-composites.ts); found on first use.
  const compositesByType = new Map<string, Map<string, string[]>>();
  function builtinComposites(resourceType: string): Map<string, string[]> {
    let composites = compositesByType.get(resourceType);
    if (composites) return composites;
    composites = findResourceComposites({
      resourceType,
      defs: builtins.forType(resourceType),
      expression: (code) => builtinExpression(resourceType, code),
      componentParam: (url) => {
        const def = builtinUrls.get(url);
        return def && builtins.entry(resourceType, def.code)?.def === def ? def : undefined;
      },
    });
    const ownRows = options.ownRows;
    const unions = builtinUnions(resourceType);
    for (const [code, holders] of composites) {
      const kept = [code, ...holders].some((c) => unions.has(c) || ownRows?.(resourceType, c) === true);
      if (kept) composites.delete(code);
    }
    compositesByType.set(resourceType, composites);
    return composites;
  }

  /** A custom definition in a derived parameter's place, or a source's, gives rows of its own. */
  function customShadows(resourceType: string, codes: readonly string[]): boolean {
    return customCount > 0 && codes.some((c) => custom.entry(resourceType, c) !== undefined);
  }

  function builtinExpression(resourceType: string, code: string): string | null {
    const e = builtins.entry(resourceType, code);
    return e ? expressionOf(e, resourceType) : null;
  }

  function expressionOf(e: Entry, resourceType: string): string | null {
    if (e.def.expression === null) return null;
    if (!e.expressions.has(resourceType)) e.expressions.set(resourceType, expressionForType(e.def.expression, resourceType, known));
    return e.expressions.get(resourceType) ?? null;
  }

  function checkBases(def: SearchParamDef): void {
    const unknown = def.base.filter((b) => !known.has(b) && b !== 'Resource' && b !== 'DomainResource');
    if (unknown.length > 0) {
      throw new HavenError('unprocessable', 'SEARCH_PARAM_INVALID', `Unknown base type(s): ${unknown.join(', ')}`, {
        expression: ['SearchParameter.base'],
      });
    }
  }

  function setCustom(list: readonly SearchParamDef[]): void {
    const table = createParamTable();
    const urls = new Map<string, SearchParamDef>();
    for (const def of list) {
      table.add(def);
      urls.set(def.url, def);
    }
    custom = table;
    customUrls = urls;
    customCount = list.length;
    generation++;
    // A new list identity per type tells the indexer to recompile (extract.ts compares identities).
    forTypeCache = new Map();
  }

  return {
    get generation() {
      return generation;
    },
    byUrl: (url) => customUrls.get(url) ?? builtinUrls.get(url),
    get: (resourceType, code) => entry(resourceType, code)?.def,
    builtin: (resourceType, code) => builtins.entry(resourceType, code)?.def,
    forType,
    expression(resourceType, code) {
      const e = entry(resourceType, code);
      return e ? expressionOf(e, resourceType) : null;
    },
    /**
     * One declared target, or an expression for the type that keeps only one
     * (`Observation.subject.where(resolve() is Patient)`: R4's shared `patient`
     * parameter declares Patient and Group, but on Observation its rows are Patients).
     */
    onlyTarget(resourceType, code) {
      const e = entry(resourceType, code);
      if (!e || e.def.type !== 'reference') return undefined;
      if (e.def.target.length === 1) return e.def.target[0];
      const expression = expressionOf(e, resourceType);
      if (expression === null || expression.includes('|')) return undefined;
      return /\.where\(resolve\(\) is ([A-Z][A-Za-z]*)\)$/.exec(expression.trim())?.[1];
    },
    rowParams(resourceType, code) {
      const sources = builtinUnions(resourceType).get(code);
      if (sources === undefined) return undefined;
      // A custom definition in the union's place (one that reuses a built-in url) has rows of its own.
      return customShadows(resourceType, [code, ...sources]) ? undefined : sources;
    },
    componentRows(resourceType, code) {
      const holders = builtinComposites(resourceType).get(code);
      return holders === undefined || customShadows(resourceType, [code, ...holders]) ? undefined : holders;
    },
    register(searchParameter) {
      const def = parseSearchParameter(searchParameter);
      checkBases(def);
      setCustom([...[...customUrls.values()].filter((d) => d.url !== def.url), def]);
      return def;
    },
    setCustom(list) {
      for (const def of list) checkBases(def);
      setCustom(list);
    },
  };
}
