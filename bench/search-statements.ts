/**
 * The SQL statements the server runs for one benchmark search, compiled the
 * way the search runner compiles them: the page statement (with the
 * compartment condition for compartment searches) and, when the search has
 * `_include`/`_revinclude`, the first include round over the page's actual
 * matches. Each is EXPLAINed and checked for sequential scans.
 */
import type pg from 'pg';
import type { SearchParamRegistry } from '../src/fhir/index.js';
import { compileIncludeRound, compileSearch, parseInclude, parseSearch, takeSpecialParams } from '../src/search/index.js';
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
}

export async function statementsFor(db: pg.Client, s: StatementInputs): Promise<{ label: string; compiled: CompiledSql }[]> {
  const special = takeSpecialParams(s.params);
  const parsed = parseSearch(s.resourceType, special.rest, s.registry);
  const query = s.blind ? await s.blind(parsed) : parsed;
  const compartment: CompartmentFilter | undefined = s.compartment
    ? { ...s.compartment, params: s.compartmentParams(s.compartment.compartment, s.resourceType) }
    : undefined;
  const page = compileSearch(compartment ? { ...query, compartment } : query, 'default');
  const out = [{ label: 'page', compiled: page }];
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
