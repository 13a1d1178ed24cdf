import type { Clock, Logger, RequestContext } from '../kernel/index.js';
import { HavenError } from '../kernel/index.js';
import type { SearchParamRegistry } from '../fhir/index-values.js';
import { compileSearch, parseSearch } from '../search/index.js';
import type { Queryable, StoreHooks } from '../store/index.js';
import { blindPrepared, type SearchBlinding } from '../store/search-blind.js';
import {
  createAccessResolver,
  createElevationStore,
  createPolicyGuard,
  createRoleStore,
  policyAccess,
  requirePolicy,
  restrictionFor,
} from '../auth/index.js';
import type { PolicyInteraction, PolicyMatcher, Restriction } from '../auth/index.js';
import type { SearchOptions, SearchRunner } from '../http/fhir/deps.js';

/**
 * Wiring of access policies, JIT elevation and break-glass (docs/security/identity.md):
 * the SQL matcher built from the search parser and compiler, the resolver cache,
 * and the guards around the store and the searcher.
 */
export interface AccessParts {
  db: Queryable;
  clock: Clock;
  logger: Logger;
  registry: SearchParamRegistry;
  normalize: (s: string) => string;
  paramsFor(type: string): readonly string[];
  /** Blind indexes: protected criteria values are matched by HMAC tag, as in search. */
  blind?: SearchBlinding;
}

const CHUNK = 500;

function createMatcher(registry: SearchParamRegistry, normalize: (s: string) => string, blind: SearchBlinding | undefined): PolicyMatcher {
  const opts = (n: number) => ({ strict: true, defaultCount: n, maxCount: n, normalize });
  const toPairs = (g: ReadonlyArray<readonly [string, string]>) => g.map(([k, v]) => [k, v] as [string, string]);
  return {
    async matching(q, ctx, type, ids, restriction) {
      const found = new Set<string>();
      for (let i = 0; i < ids.length; i += CHUNK) {
        const slice = ids.slice(i, i + CHUNK);
        const query = parseSearch(type, [['_id', slice.join(',')]], registry, opts(slice.length));
        query.restrict = restriction.map((g) => parseSearch(type, toPairs(g), registry, opts(1)).criteria);
        const [blinded] = (await blindPrepared(blind, ctx.tenant, { queries: [query] })).queries;
        const compiled = compileSearch(blinded ?? query, ctx.tenant);
        const res = await q.query<{ id: string }>(`SELECT m.id FROM (${compiled.sql}) m`, compiled.params);
        for (const r of res.rows) found.add(r.id);
      }
      return found;
    },
  };
}

/** Validates a role's criteria the way a search would parse them (strict: unknown parameters refused). */
export function criteriaChecker(registry: SearchParamRegistry, normalize: (s: string) => string) {
  return (type: string, pairs: Array<readonly [string, string]>) => {
    try {
      parseSearch(type, pairs.map(([k, v]) => [k, v] as [string, string]), registry, { strict: true, normalize });
    } catch (err) {
      const detail = err instanceof HavenError ? err.message : 'unparseable';
      throw new HavenError('incorrect', 'AUTH_ROLE_INVALID', `Policy criteria for ${type}: ${detail}`, { expression: ['criteria'] });
    }
    if (pairs.some(([k]) => k.startsWith('_') && k !== '_id' && k !== '_lastUpdated' && k !== '_tag' && k !== '_security' && k !== '_profile')) {
      throw new HavenError('incorrect', 'AUTH_ROLE_INVALID', `Policy criteria for ${type} may not use result parameters`, { expression: ['criteria'] });
    }
  };
}

export function buildAccess(parts: AccessParts) {
  const roles = createRoleStore(parts.db);
  const elevations = createElevationStore(parts.db, parts.clock);
  const resolver = createAccessResolver({ db: parts.db, roles, elevations, clock: parts.clock });
  const compartments = { paramsFor: parts.paramsFor };
  const matcher = createMatcher(parts.registry, parts.normalize, parts.blind);
  const guard = createPolicyGuard({ db: parts.db, matcher, compartments });
  const linkedAllowed = (ctx: RequestContext, types: readonly string[]) => {
    for (const t of types) if (restrictionFor(ctx, t, 'search', compartments) !== undefined) throw restrictedLink(t);
  };

  function guardSearcher(inner: SearchRunner): SearchRunner {
    return {
      async search(ctx, reader, type, params, options) {
        if (!policyAccess(ctx)) return inner.search(ctx, reader, type, params, options);
        const restrict = restrictionFor(ctx, type, 'search', compartments);
        const page = await inner.search(ctx, reader, type, params, withPolicy(ctx, options, restrict, linkedAllowed));
        return { ...page, included: await guard.filterIncluded(ctx, page.included ?? []) };
      },
      ...(inner.searchSystem
        ? {
            async searchSystem(ctx, reader, types, params, options) {
              if (policyAccess(ctx)) linkedAllowed(ctx, types); // every type unfiltered, or refused
              const page = await inner.searchSystem!(ctx, reader, types, params, policyAccess(ctx) ? withPolicy(ctx, options, undefined, linkedAllowed) : options);
              return { ...page, included: await guard.filterIncluded(ctx, page.included ?? []) };
            },
          }
        : {}),
    };
  }

  /** `$operations` need the `operations` interaction on their type (any type for system-level ones). */
  // Every argument after the request goes through as it came: a transaction Bundle's entries pass its
  // StoreTransaction there, and dropping it ran them outside the transaction (reads blind to its writes,
  // a PATCH committed on its own even when a later entry failed).
  function guardOperations<Req extends { path: string[] }, Rest extends unknown[], Res>(router: (ctx: RequestContext, req: Req, ...rest: Rest) => Promise<Res>) {
    return (ctx: RequestContext, req: Req, ...rest: Rest): Promise<Res> => {
      const op = req.path.findIndex((p) => p.startsWith('$'));
      if (op >= 0 && policyAccess(ctx)) requirePolicy(ctx, op === 0 ? '*' : req.path[0]!, 'operations');
      return router(ctx, req, ...rest);
    };
  }

  return {
    guardOperations,
    /** The same SQL matcher, for granular SMART scopes (src/auth/guard-store.ts). */
    matching: (ctx: RequestContext, type: string, ids: readonly string[], restriction: Restriction) => matcher.matching(parts.db, ctx, type, ids, restriction),
    roles,
    elevations,
    resolver,
    guard,
    guardSearcher,
    attachHooks: (hooks: StoreHooks) => guard.attach(hooks),
    authorize: (ctx: RequestContext, type: string, interaction: PolicyInteraction) => requirePolicy(ctx, type, interaction),
    checkCriteria: criteriaChecker(parts.registry, parts.normalize),
  };
}

function withPolicy(
  ctx: RequestContext,
  options: SearchOptions,
  restrict: Restriction | undefined,
  linkedAllowed: (ctx: RequestContext, types: readonly string[]) => void,
): SearchOptions {
  return {
    ...options,
    ...(restrict ? { restrict } : {}),
    authorizeLinked: (types) => {
      options.authorizeLinked?.(types);
      linkedAllowed(ctx, types);
    },
  };
}

function restrictedLink(type: string): HavenError {
  return new HavenError('forbidden', 'AUTH_POLICY_DENIED', `Your access to ${type} is limited by policy criteria: chained, _has and cross-type searches over it are refused`, {
    expression: [type],
  });
}

export type Access = ReturnType<typeof buildAccess>;
