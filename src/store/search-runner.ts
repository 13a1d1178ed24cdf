import { HavenError, isHavenError, type RequestContext } from '../kernel/index.js';
import type { SearchParamRegistry } from '../fhir/index-values.js';
import {
  compileCount,
  compileEstimate,
  compileHasLastEstimate,
  compileSearch,
  compileSystemCount,
  compileSystemSearch,
  expandIncludeWildcard,
  linkedTypes,
  permittedLinks,
  parseInclude,
  parseSearch,
  readEstimate,
  readHasLastChoice,
  takeSpecialParams,
  compileContainedCount,
} from '../search/index.js';
import type { CompartmentFilter, CompartmentLimit, ContainedMode, ContainedSearch, ContainedType, IncludeSpec, SearchQuery, SummaryMode } from '../search/index.js';
import { runContainedPage } from './search-contained.js';
import { runIncludes } from './include-runner.js';
import { blindPrepared, type SearchBlinding } from './search-blind.js';
import { resolveValueSets, type ExpandValueSet } from './search-valuesets.js';
import type { ResourceReader } from './resource-store.js';
import type { CommonTargetsSource } from './common-targets.js';
import { createHasLastMemo, type HasLastMemo } from './has-last-memo.js';
import type { StoredResource } from './model.js';

export interface SearchRunnerOptions {
  registry: SearchParamRegistry;
  normalize: (s: string) => string;
  defaultCount: number;
  maxCount: number;
  /** Known resource types, to validate `_include` targets (default: any type the registry has parameters for). */
  isResourceType?: (type: string) => boolean;
  /** Most included resources per page (default: maxCount). */
  maxIncludes?: number;
  /** Blind indexes: protected parameters are searched by HMAC tag (src/store/search-blind.ts). */
  blind?: SearchBlinding;
  /** R4 core value sets for `:in` / `:not-in` urls not stored on the server (search-valuesets.ts); absent: stored ones only. */
  expandValueSet?: ExpandValueSet;
  /**
   * Every resource type, for `_contained`: contained matches are returned only from containers of
   * the types `authorizeLinked` allows (none when absent and the caller is checked).
   */
  resourceTypes?: Iterable<string>;
  /** The reference targets whose pages and reverse includes need custom plans (common-targets.ts); none when absent. */
  commonTargets?: CommonTargetsSource;
  /** Recent has-last choices (has-last-memo.ts); the runner makes its own when absent. */
  hasLastMemo?: HasLastMemo;
}

/** One page of search results. */
export interface SearchResultPage {
  entries: StoredResource[];
  /** `_include`/`_revinclude` results (search.mode=include), each once, none of them a match. */
  included?: StoredResource[];
  /** Total when asked for (_total=accurate|estimate), or when the whole result fits this page. */
  total?: number;
  hasMore: boolean;
  offset: number;
  count: number;
  /** Parameters ignored because unknown or unsupported. */
  unknown: string[];
  /** Warnings for the outcome entry (e.g. includes truncated). */
  warnings?: string[];
  /** The parameters that were applied, for the self link. */
  applied: [string, string][];
  /** Only a count was asked for (_summary=count or _count=0). */
  countOnly: boolean;
  summary?: SummaryMode;
  elements?: string[];
}

/** A compartment instance (`Patient/123`) and, per searched type, the parameters linking it (CompartmentDefinition). */
export interface CompartmentScope {
  compartment: string;
  id: string;
  paramsFor(type: string): readonly string[];
}

export interface SearchRunOptions {
  strict: boolean;
  /** Compartment search: only resources of the compartment. */
  compartment?: CompartmentScope;
  /** A second compartment every match must also lie in (patient-context tokens searching another compartment, e.g. `Encounter/e1/*`). */
  alsoIn?: CompartmentScope;
  /** Types the caller may read (for includes); '*' or absent for all. */
  readable?: readonly string[] | '*';
  /** Called with the types a chain, `_has` or `_list` reads besides the searched type; throws when not allowed. */
  authorizeLinked?: (types: readonly string[]) => void;
  /** Access-policy criteria: OR of groups of `[param, value]` AND-ed into the page SQL (never filtered after the fetch). */
  restrict?: ReadonlyArray<ReadonlyArray<readonly [string, string]>>;
  /** The caller sees only this compartment (patient-context tokens): chains, `_has`, `_list` and includes stay inside it, in SQL. */
  within?: CompartmentLimit;
}

/** Whether a parameter uses `:in` / `:not-in` (also at the end of a chain or `_has`): only then are value sets resolved. */
function namesValueSet(params: ReadonlyArray<readonly [string, string]>): boolean {
  return params.some(([k]) => k.endsWith(':in') || k.endsWith(':not-in'));
}

function compartmentFilter(scope: CompartmentScope, type: string): CompartmentFilter {
  return { compartment: scope.compartment, id: scope.id, params: scope.paramsFor(type) };
}

type Prepared = {
  queries: SearchQuery[];
  includes: IncludeSpec[];
  params: [string, string][];
  contained: { mode: ContainedMode; as: ContainedType };
};

/**
 * A contained resource is disclosed by reading its container, whose type the
 * caller may not search, and whose rows access limits (compartments, policy
 * and scope criteria) are written for its own type: such callers are refused
 * rather than filtered after the fetch.
 */
/** Only a count was asked for (`_summary=count` or `_count=0`). */
function isCountOnly(query: SearchQuery): boolean {
  return query.summary === 'count' || query.count === 0;
}

function refuseRestrictedContained(opts: SearchRunOptions): void {
  if (opts.alsoIn || opts.within || opts.restrict) {
    throw new HavenError('forbidden', 'SEARCH_CONTAINED_RESTRICTED', '_contained=true|both is not available when access is limited to a compartment or by criteria', { expression: ['_contained'] });
  }
}

/** Parses, compiles and runs one page of a search: one statement, one per include round, one for totals when asked. */
export function createSearchRunner(options: SearchRunnerOptions) {
  const isType = options.isResourceType ?? ((t: string) => options.registry.forType(t).length > 0);
  const hasLastMemo = options.hasLastMemo ?? createHasLastMemo();
  const parseOptions = (strict: boolean) => ({
    strict,
    defaultCount: options.defaultCount,
    maxCount: options.maxCount,
    normalize: options.normalize,
  });

  function prepare(types: readonly string[], params: [string, string][], opts: SearchRunOptions): Prepared {
    const special = takeSpecialParams(params);
    const includes = expandIncludeWildcard(special.includes, types).map(([k, v]) => parseInclude(k, v, options.registry, isType));
    let queries = types.map((t) => parseSearch(t, special.rest, options.registry, parseOptions(opts.strict)));
    // Across types only parameters every type knows apply (R4: common parameters), or the types would disagree.
    const unknown = new Set(queries.flatMap((q) => q.unknown));
    if (types.length > 1 && unknown.size > 0) {
      const rest = special.rest.filter(([k]) => !unknown.has(k));
      queries = types.map((t) => ({ ...parseSearch(t, rest, options.registry, parseOptions(opts.strict)), unknown: [...unknown] }));
    }
    // A chain or _has reads other types' index values: the caller must be allowed to search them too.
    // A chain without a type searches only the target types the caller may search.
    const authorizeLinked = opts.authorizeLinked;
    if (authorizeLinked) queries = queries.map((q) => ({ ...q, criteria: permittedLinks(q.criteria, (t) => permitted(authorizeLinked, t)) }));
    const linked = [...new Set(queries.flatMap((q) => linkedTypes(q.criteria)))];
    if (linked.length > 0) opts.authorizeLinked?.(linked);
    const restrict = opts.restrict;
    if (restrict) {
      const groups = (t: string) => restrict.map((g) => parseSearch(t, g.map(([k, v]) => [k, v] as [string, string]), options.registry, parseOptions(true)).criteria);
      queries = queries.map((q) => ({ ...q, restrict: groups(q.resourceType) }));
    }
    const scope = opts.compartment;
    if (scope) queries = queries.map((q) => ({ ...q, compartment: compartmentFilter(scope, q.resourceType) }));
    const alsoIn = opts.alsoIn;
    if (alsoIn) queries = queries.map((q) => ({ ...q, alsoIn: compartmentFilter(alsoIn, q.resourceType) }));
    const within = opts.within;
    if (within) queries = queries.map((q) => ({ ...q, within }));
    const contained = { mode: special.contained, as: special.containedType };
    if (contained.mode !== 'false') {
      if (types.length > 1) throw unsupportedContained('in a search over several types');
      if (opts.compartment) throw unsupportedContained('in a compartment search');
      refuseRestrictedContained(opts);
    }
    return { queries, includes, params, contained };
  }

  function unsupportedContained(why: string): HavenError {
    return new HavenError('incorrect', 'SEARCH_UNSUPPORTED_PARAM', `Search parameter '_contained' is not supported ${why}`, { expression: ['_contained'] });
  }

  /** Container types the caller may search (as a chain would read them); null: all, unchecked. */
  function containerTypes(opts: SearchRunOptions): readonly string[] | null {
    const authorize = opts.authorizeLinked;
    if (!authorize) return null;
    const all = [...(options.resourceTypes ?? [])];
    const allowed = all.filter((t) => permitted(authorize, t));
    return allowed.length === all.length && all.length > 0 ? null : allowed;
  }

  /** Whether the caller may search `type` through a chain: `authorize` refuses with a forbidden error. */
  function permitted(authorize: (types: readonly string[]) => void, type: string): boolean {
    try {
      authorize([type]);
      return true;
    } catch (err) {
      if (isHavenError(err) && err.category === 'forbidden') return false;
      throw err;
    }
  }

  /**
   * Whether to page a `_has` search with the probes last (src/search/has-last.ts): one planning-only EXPLAIN,
   * only for such searches, and not again for the same criteria while the memo holds their choice.
   */
  async function probeHasLast(ctx: RequestContext, reader: ResourceReader, query: SearchQuery): Promise<boolean> {
    const estimate = compileHasLastEstimate(query, ctx.tenant);
    if (estimate === null) return false;
    const known = hasLastMemo.get(estimate);
    if (known !== undefined) return known;
    const hasLast = readHasLastChoice(await reader.rows(ctx, estimate));
    hasLastMemo.remember(estimate, hasLast);
    return hasLast;
  }

  async function run(ctx: RequestContext, reader: ResourceReader, prepared: Prepared, opts: SearchRunOptions): Promise<SearchResultPage> {
    const { queries, includes, params } = prepared;
    if (namesValueSet(params) || opts.restrict?.some((g) => namesValueSet(g))) await resolveValueSets(ctx, reader, queries, options.expandValueSet);
    const query = queries[0]!;
    if (prepared.contained.mode !== 'false') return runContained(ctx, reader, prepared, opts);
    const system = queries.length > 1;
    const countOnly = isCountOnly(query);
    const commonTargets = await options.commonTargets?.current();
    const common = commonTargets ? { commonTargets } : {};
    const entries = countOnly
      ? []
      : await reader.query(ctx, system ? compileSystemSearch(queries, ctx.tenant) : compileSearch(query, ctx.tenant, { hasLast: await probeHasLast(ctx, reader, query), ...common }));
    const hasMore = entries.length > query.count;
    const page = entries.slice(0, query.count);
    let total: number | undefined;
    if (query.total === 'accurate' || countOnly) {
      total = await reader.scalar(ctx, system ? compileSystemCount(queries, ctx.tenant) : compileCount(query, ctx.tenant));
    } else if (query.total === 'estimate' && !system) {
      total = readEstimate(await reader.rows(ctx, compileEstimate(query, ctx.tenant)));
    } else if (!hasMore && query.offset === 0) total = page.length; // the whole result fits this page: exact for free
    return pageOf(prepared, { ...(await includesOf(ctx, reader, page, includes, opts)), entries: page, total, hasMore });
  }

  /** `_contained=true|both` (src/store/search-contained.ts): keys first, then the containers they name. */
  async function runContained(ctx: RequestContext, reader: ResourceReader, prepared: Prepared, opts: SearchRunOptions): Promise<SearchResultPage> {
    const query = prepared.queries[0]!;
    const c: ContainedSearch = { mode: prepared.contained.mode as ContainedSearch['mode'], as: prepared.contained.as, containerTypes: containerTypes(opts) };
    const countOnly = isCountOnly(query);
    const found = countOnly ? { entries: [], hasMore: false, includeSources: [] } : await runContainedPage(ctx, reader, query, c);
    let total: number | undefined;
    if (query.total !== 'none' || countOnly) total = await reader.scalar(ctx, compileContainedCount(query, ctx.tenant, c));
    else if (!found.hasMore && query.offset === 0) total = found.entries.length;
    const included = await includesOf(ctx, reader, found.includeSources, prepared.includes, opts);
    return pageOf(prepared, { ...included, entries: found.entries, total, hasMore: found.hasMore });
  }

  /** `_include`/`_revinclude` from `sources`, limited to the types the caller may read (and its compartment). */
  async function includesOf(ctx: RequestContext, reader: ResourceReader, sources: StoredResource[], includes: IncludeSpec[], opts: SearchRunOptions) {
    if (includes.length === 0 || sources.length === 0) return { included: [], truncated: false };
    const commonTargets = await options.commonTargets?.current();
    return runIncludes(ctx, reader, sources, includes, {
      registry: options.registry,
      readable: opts.readable === undefined || opts.readable === '*' ? null : opts.readable,
      limit: options.maxIncludes ?? options.maxCount,
      ...(opts.within ? { within: opts.within } : {}),
      ...(commonTargets ? { commonTargets } : {}),
    });
  }

  function pageOf(
    prepared: Prepared,
    r: { entries: StoredResource[]; included: StoredResource[]; truncated: boolean; total: number | undefined; hasMore: boolean },
  ): SearchResultPage {
    const { params } = prepared;
    const query = prepared.queries[0]!;
    const unknown = query.unknown;
    return {
      entries: r.entries,
      included: r.included,
      ...(r.total !== undefined ? { total: r.total } : {}),
      hasMore: r.hasMore,
      offset: query.offset,
      count: query.count,
      unknown,
      warnings: r.truncated ? [`Included resources were limited to ${r.included.length}`] : [],
      applied: params.filter(([k]) => !unknown.includes(k) && !unknown.includes(k.split(':')[0]!)),
      countOnly: isCountOnly(query),
      ...(query.summary === undefined ? {} : { summary: query.summary }),
      ...(query.elements === undefined ? {} : { elements: query.elements }),
    };
  }

  return {
    async search(ctx: RequestContext, reader: ResourceReader, resourceType: string, params: [string, string][], opts: SearchRunOptions) {
      return run(ctx, reader, await blindPrepared(options.blind, ctx.tenant, prepare([resourceType], params, opts)), opts);
    },
    /** System-level search over `types` (the caller has already narrowed them to what it may search). */
    async searchSystem(ctx: RequestContext, reader: ResourceReader, types: readonly string[], params: [string, string][], opts: SearchRunOptions) {
      return run(ctx, reader, await blindPrepared(options.blind, ctx.tenant, prepare(types, params, opts)), opts);
    },
  };
}
