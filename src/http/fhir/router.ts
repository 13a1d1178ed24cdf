import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';
import { create, patch, read, remove, update, vread } from './crud.js';
import type { FhirDeps } from './deps.js';
import { history } from './history.js';
import { search, searchCompartment, searchSystem } from './search.js';
import { validateOperation } from './validate-operation.js';
import { queryValue, type FhirRequest, type FhirResponse } from './types.js';

export interface RouterOptions {
  defaultPageSize: number;
  maxPageSize: number;
  /** System-level handlers that live elsewhere (Bundle processing, metadata). */
  system: {
    bundle(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
    metadata(req: FhirRequest): FhirResponse | Promise<FhirResponse>;
    /** AuditEvent reads and searches, served from the audit log (absent when auditing is off in tests). */
    auditEvents?: (ctx: RequestContext, req: FhirRequest) => Promise<FhirResponse>;
  };
  /** Bulk Data `$export` kick-off (system, Patient, Group), `$import` and `Patient/ID/$everything`. */
  operations?: {
    export(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
    everything(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
    import(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
    /** `$reindex` (system or type) kick-off and `GET $reindex/[job]` status (docs/search.md). */
    reindex?: {
      kickoff(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
      status(ctx: RequestContext, req: FhirRequest): Promise<FhirResponse>;
    };
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
      if (m === 'GET') return searchSystem(deps, ctx, req, tx);
    }
    if (n === 1 && a === 'metadata' && m === 'GET') {
      requireCapabilityMode(req);
      return options.system.metadata(req);
    }
    const ops = options.operations;
    const isExport = (n === 1 && a === '$export') || (n === 2 && a === 'Patient' && b === '$export') || (n === 3 && a === 'Group' && c === '$export');
    if (ops && isExport && (m === 'GET' || m === 'POST')) return ops.export(ctx, req);
    if (ops && n === 3 && a === 'Patient' && c === '$everything' && m === 'GET') return ops.everything(ctx, req);
    if (ops && n === 1 && a === '$import' && m === 'POST') return ops.import(ctx, req);
    if (ops?.reindex && m === 'POST' && ((n === 1 && a === '$reindex') || (n === 2 && b === '$reindex'))) return ops.reindex.kickoff(ctx, req);
    if (ops?.reindex && m === 'GET' && n === 2 && a === '$reindex') return ops.reindex.status(ctx, req);
    // AuditEvent lives in the audit log, not the resource store ($validate of one still validates).
    if (a === 'AuditEvent' && options.system.auditEvents && b !== '$validate') return options.system.auditEvents(ctx, req);
    if (a === '_history' && n === 1 && m === 'GET') return history(deps, ctx, req, options.defaultPageSize, options.maxPageSize);
    if (n === 1 && a === '_search' && m === 'POST') return searchSystem(deps, ctx, req, tx);
    // Any other `$name` where an operation goes is an operation Haven does not have (not an id or a type).
    const operation = [a, b, c][n - 1];
    if (n <= 3 && operation?.startsWith('$') && !(operation === '$validate' && m === 'POST')) {
      throw unsupported(`Operation ${operation} is not supported here (${req.method} /${req.path.join('/')}); the CapabilityStatement (GET /fhir/metadata) lists the operations Haven has`);
    }
    if (n === 1) {
      if (m === 'GET') return search(deps, ctx, req, tx);
      if (m === 'POST') return create(deps, ctx, req, tx);
      if (m === 'PUT') return update(deps, ctx, req, tx);
      if (m === 'PATCH') return patch(deps, ctx, req, tx);
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
    // Compartment search: [Compartment]/[id]/[type|*], also as POST …/_search.
    if (n === 3 && m === 'GET' && !c!.startsWith('$')) return searchCompartment(deps, ctx, req, tx);
    if (n === 4 && d === '_search' && m === 'POST') return searchCompartment(deps, ctx, req, tx);
    throw unsupported(`${req.method} /${req.path.join('/')} is not a supported FHIR interaction`);
  };
}

/**
 * `metadata?mode=`: `full` (the default) and `normative` are answered with the whole
 * CapabilityStatement; `terminology` asks for a TerminologyCapabilities, which Haven does
 * not publish, so it is refused rather than answered with a resource of another type.
 */
function requireCapabilityMode(req: FhirRequest): void {
  const mode = queryValue(req, 'mode');
  if (mode === undefined || mode === 'full' || mode === 'normative') return;
  throw new HavenError('incorrect', 'METADATA_MODE_UNSUPPORTED', `metadata mode=${mode} is not supported; use full or normative (TerminologyCapabilities is not published)`, { expression: ['mode'] });
}

function unsupported(message: string): HavenError {
  return new HavenError('unsupported', 'INTERACTION_NOT_SUPPORTED', message);
}
