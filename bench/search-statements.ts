/**
 * The SQL statements the server runs for one benchmark search, compiled the
 * way the search runner compiles them: the page statement (with the
 * compartment condition for compartment searches) and, when the search has
 * `_include`/`_revinclude`, the first include round over the page's actual
 * matches. A `_has` search is compiled in the form the runner would choose
 * (src/search/has-last.ts). Each is EXPLAINed and checked for sequential scans.
 */
import type pg from 'pg';
import type { SearchParamRegistry } from '../src/fhir/index.js';
import { compileHasLastEstimate, compileIncludeRound, compileSearch, parseInclude, parseSearch, readHasLastChoice, takeSpecialParams } from '../src/search/index.js';
import type { CompiledSql, CompartmentFilter, SearchQuery } from '../src/search/index.js';

export interface CompartmentRef {
  compartment: string;
  id: string;
}

export interface StatementInputs {
  resourceType: string;
  params: [string, string][];
  compartment: CompartmentRef | null;
  registry: SearchParamRegistry;
  compartmentParams(compartment: string, type: string): readonly string[];
  isResourceType(type: string): boolean;
  /** Replaces protected values by the server's blind-index tags (blind-tags.ts), as the server's search runner does. */
  blind?: (query: SearchQuery) => Promise<SearchQuery>;
  /**
   * Also the has-last estimate (a planning-only EXPLAIN), first, for a `_has` search that has one: a statement
   * the server sends too, though not one whose plan can be checked.
   */
  withEstimate?: boolean;
}

export async function statementsFor(db: pg.Client, s: StatementInputs): Promise<{ label: string; compiled: CompiledSql }[]> {
  const special = takeSpecialParams(s.params);
  const parsed = parseSearch(s.resourceType, special.rest, s.registry);
  const query = s.blind ? await s.blind(parsed) : parsed;
  const compartment: CompartmentFilter | undefined = s.compartment
    ? { ...s.compartment, params: s.compartmentParams(s.compartment.compartment, s.resourceType) }
    : undefined;
  const scoped = compartment ? { ...query, compartment } : query;
  // As the search runner does: a `_has` search may be paged with its probes last, chosen from one planning-only EXPLAIN.
  const estimate = compileHasLastEstimate(scoped, 'default');
  const hasLast = estimate !== null && readHasLastChoice((await db.query(estimate.sql, estimate.params)).rows);
  const page = compileSearch(scoped, 'default', { hasLast });
  const out = [...(s.withEstimate && estimate ? [{ label: 'has-last estimate', compiled: estimate }] : []), { label: 'page', compiled: page }];
  if (special.includes.length === 0) return out;
  const specs = special.includes.map(([k, v]) => parseInclude(k, v, s.registry, s.isResourceType));
  const rows = (await db.query<{ resource_type: string; id: string }>(page.sql, page.params)).rows.slice(0, query.count);
  const sources = new Map<string, string[]>();
  for (const r of rows) sources.set(r.resource_type, [...(sources.get(r.resource_type) ?? []), r.id]);
  const round = compileIncludeRound(specs, sources, {
    tenant: 'default',
    registry: s.registry,
    readable: null,
    exclude: rows.map((r) => `${r.resource_type}/${r.id}`),
    limit: 1001,
  });
  if (round) out.push({ label: 'include round', compiled: round });
  return out;
}
