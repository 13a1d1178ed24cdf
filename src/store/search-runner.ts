import type { RequestContext } from '../kernel/index.js';
import type { SearchParamRegistry } from '../fhir/index-values.js';
import { compileCount, compileEstimate, compileSearch, parseSearch, readEstimate } from '../search/index.js';
import type { ResourceReader } from './resource-store.js';
import type { StoredResource } from './model.js';

export interface SearchRunnerOptions {
  registry: SearchParamRegistry;
  normalize: (s: string) => string;
  defaultCount: number;
  maxCount: number;
}

/** One page of search results. */
export interface SearchResultPage {
  entries: StoredResource[];
  /** Total when asked for (_total=accurate|estimate), or when the whole result fits this page. */
  total?: number;
  hasMore: boolean;
  offset: number;
  count: number;
  /** Parameters ignored because unknown or unsupported. */
  unknown: string[];
  /** The parameters that were applied, for the self link. */
  applied: [string, string][];
  /** Only a count was asked for (_summary=count or _count=0). */
  countOnly: boolean;
}


/** Parses, compiles and runs one page of a search: one SQL statement, plus one for totals when asked. */
export function createSearchRunner(options: SearchRunnerOptions) {
  return {
    async search(
      ctx: RequestContext,
      reader: ResourceReader,
      resourceType: string,
      params: [string, string][],
      opts: { strict: boolean },
    ): Promise<SearchResultPage> {
      const query = parseSearch(resourceType, params, options.registry, {
        strict: opts.strict,
        defaultCount: options.defaultCount,
        maxCount: options.maxCount,
        normalize: options.normalize,
      });
      const countOnly = query.summary === 'count' || query.count === 0;
      const entries = countOnly ? [] : await reader.query(ctx, compileSearch(query, ctx.tenant));
      const hasMore = entries.length > query.count;
      let total: number | undefined;
      if (query.total === 'accurate' || countOnly) total = await reader.scalar(ctx, compileCount(query, ctx.tenant));
      else if (query.total === 'estimate') total = readEstimate(await reader.rows(ctx, compileEstimate(query, ctx.tenant)));
      else if (!hasMore && query.offset === 0) total = entries.length; // the whole result fits this page: exact for free
      return {
        entries: entries.slice(0, query.count),
        ...(total !== undefined ? { total } : {}),
        hasMore,
        offset: query.offset,
        count: query.count,
        unknown: query.unknown,
        applied: params.filter(([k]) => !query.unknown.includes(k.split(':')[0]!)),
        countOnly,
      };
    },
  };
}
