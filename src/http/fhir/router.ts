import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';
import { create, patch, read, remove, update, vread } from './crud.js';
import type { FhirDeps } from './deps.js';
import { history } from './history.js';
import { search } from './search.js';
import { validateOperation } from './validate-operation.js';
import type { FhirRequest, FhirResponse } from './types.js';

export interface RouterOptions {
  defaultPageSize: number;
  maxPageSize: number;
  /** System-level handlers that live elsewhere (Bundle processing, metadata). */
  system: {
    bundle(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
    metadata(req: FhirRequest): FhirResponse;
  };
}

export type FhirRouter = (ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction) => Promise<FhirResponse>;

/**
 * Maps a FHIR request to its interaction. Framework-neutral: the HTTP layer
 * and the Bundle processor route through the same table.
 */
export function createFhirRouter(deps: FhirDeps, options: RouterOptions): FhirRouter {
  return async (ctx, req, tx) => {
    const [a, b, c, d] = req.path;
    const n = req.path.length;
    const m = req.method === 'HEAD' ? 'GET' : req.method;
    if (n === 0) {
      if (m === 'POST') return options.system.bundle(ctx, req);
      if (m === 'GET' && req.query.length > 0) throw unsupported('System-level search (GET /fhir?…) comes with the search issue');
    }
    if (n === 1 && a === 'metadata' && m === 'GET') return options.system.metadata(req);
    if (a === '_history' && n === 1 && m === 'GET') return history(deps, ctx, req, options.defaultPageSize, options.maxPageSize);
    if (n === 1) {
      if (m === 'GET') return search(deps, ctx, req, tx);
      if (m === 'POST') return create(deps, ctx, req, tx);
      if (m === 'PUT') return update(deps, ctx, req, tx);
      if (m === 'DELETE') return remove(deps, ctx, req, tx);
    }
    if (n === 2 && b === '_search' && m === 'POST') return search(deps, ctx, req, tx);
    if (((n === 2 && b === '$validate') || (n === 3 && c === '$validate')) && m === 'POST') return validateOperation(deps, ctx, req);
    if (n === 2 && b === '_history' && m === 'GET') return history(deps, ctx, req, options.defaultPageSize, options.maxPageSize);
    if (n === 2) {
      if (m === 'GET') return read(deps, ctx, req, tx);
      if (m === 'PUT') return update(deps, ctx, req, tx);
      if (m === 'PATCH') return patch(deps, ctx, req, tx);
      if (m === 'DELETE') return remove(deps, ctx, req, tx);
    }
    if (n === 3 && c === '_history' && m === 'GET') return history(deps, ctx, req, options.defaultPageSize, options.maxPageSize);
    if (n === 4 && c === '_history' && d !== undefined && m === 'GET') return vread(deps, ctx, req, tx);
    throw unsupported(`${req.method} /${req.path.join('/')} is not a supported FHIR interaction`);
  };
}

function unsupported(message: string): HavenError {
  return new HavenError('unsupported', 'INTERACTION_NOT_SUPPORTED', message);
}
