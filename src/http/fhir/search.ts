/**
 * Search interactions: type-level (`GET /fhir/Observation?…`), compartment
 * (`GET /fhir/Patient/123/Observation?…`, `…/Patient/123/*`) and system-level
 * (`GET /fhir?_type=…`), each also as `POST …/_search` with a form body.
 */
import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';
import { requireId, requireType } from './checks.js';
import type { FhirDeps, SearchOptions } from './deps.js';
import { searchBundle } from './search-bundle.js';
import { authorizeLinked, readableTypes, requireOwnCompartment, searchableTypes, systemTypes, visibleMemberTypes } from './search-scope.js';
import { header, type FhirRequest, type FhirResponse } from './types.js';

export { searchBundle } from './search-bundle.js';

/** Search parameters from the query string, plus form fields for POST _search. */
function searchParams(req: FhirRequest): [string, string][] {
  const params = [...req.query];
  if (req.method === 'POST') {
    if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
      throw new HavenError('incorrect', 'SEARCH_BAD_FORM', 'POST _search needs an application/x-www-form-urlencoded body');
    }
    for (const [k, v] of Object.entries((req.body as Record<string, string | string[]> | undefined) ?? {})) {
      for (const value of Array.isArray(v) ? v : [v]) params.push([k, value]);
    }
  }
  return params;
}

function baseOptions(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, params: [string, string][]): SearchOptions {
  return {
    strict: /handling=strict/.test(header(req, 'prefer') ?? ''),
    readable: readableTypes(deps, ctx, params),
    authorizeLinked: (types) => authorizeLinked(deps, ctx, types),
  };
}

export async function search(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'search');
  const params = searchParams(req);
  const page = await deps.searcher.search(ctx, tx ?? deps.store, type, params, baseOptions(deps, ctx, req, params));
  return { status: 200, headers: {}, body: searchBundle(deps, req, type, page) };
}

function notInCompartment(message: string): HavenError {
  return new HavenError('not-found', 'COMPARTMENT_UNKNOWN', message);
}

/** `[Compartment]/[id]/[type|*]` (path[3] may be `_search`). */
export async function searchCompartment(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const [compartment, rawId, target] = req.path as [string, string, string];
  const table = deps.fhir.compartments;
  if (!table || !table.types().includes(compartment)) throw notInCompartment(`${compartment} is not an R4 compartment`);
  const id = requireId(rawId);
  const members = (type: string) => type === compartment || table.paramsFor(compartment, type).length > 0;
  const scope = { compartment, id, paramsFor: (type: string) => table.paramsFor(compartment, type) };
  const params = searchParams(req);
  const options = { ...baseOptions(deps, ctx, req, params), compartment: scope };
  const basePath = `${compartment}/${id}/${target}`;
  if (target !== '*') {
    const type = requireType(deps, target);
    if (!members(type)) throw notInCompartment(`${type} is not in the ${compartment} compartment`);
    deps.authorize(ctx, type, 'search');
    const page = await deps.searcher.search(ctx, tx ?? deps.store, type, params, options);
    return { status: 200, headers: {}, body: searchBundle(deps, req, basePath, page) };
  }
  requireOwnCompartment(ctx, compartment, id);
  const types = searchableTypes(deps, ctx, visibleMemberTypes(deps, ctx, table.resourceTypesIn(compartment).filter(members)));
  return runSystem(deps, ctx, req, types, params, options, basePath, tx);
}

/** `GET /fhir?…` and `POST /fhir/_search`: `_type` or every type the caller may search. */
export async function searchSystem(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const params = searchParams(req);
  const types = systemTypes(deps, ctx, params);
  return runSystem(deps, ctx, req, types, params, baseOptions(deps, ctx, req, params), '', tx);
}

async function runSystem(
  deps: FhirDeps,
  ctx: RequestContext,
  req: FhirRequest,
  types: string[],
  params: [string, string][],
  options: SearchOptions,
  basePath: string,
  tx: StoreTransaction | undefined,
): Promise<FhirResponse> {
  if (!deps.searcher.searchSystem) throw new HavenError('unsupported', 'INTERACTION_NOT_SUPPORTED', 'System-level search is not available');
  const page = await deps.searcher.searchSystem(ctx, tx ?? deps.store, types, params, options);
  return { status: 200, headers: {}, body: searchBundle(deps, req, basePath, page) };
}
