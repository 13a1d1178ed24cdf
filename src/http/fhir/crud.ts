import jsonPatch from 'fast-json-patch';
import { HavenError } from '../../kernel/index.js';
import { applyFhirPathPatch } from '../../fhir/index.js';
import type { FhirResource } from '../../store/index.js';
import { isParameters, refuseCreateQuery, requireId, requireResourceBody, requireType, validateForWrite } from './checks.js';
import { resolveConditional, serializeConditions } from './conditional.js';
import type { FhirDeps } from './deps.js';
import { parseETag, respondStored, respondWritten, outcome, writtenMessage } from './respond.js';
import { header, type FhirRequest, type FhirResponse } from './types.js';
import type { RequestContext } from '../../kernel/index.js';
import type { StoreTransaction } from '../../store/index.js';

export async function read(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  const id = requireId(req.path[1]);
  deps.authorize(ctx, type, 'read');
  const found = await (tx ?? deps.store).read(ctx, type, id);
  const ifNoneMatch = header(req, 'if-none-match');
  if (ifNoneMatch) {
    if (parseETag(ifNoneMatch, 'If-None-Match') === found.versionId) return { status: 304, headers: {} };
  } else if (notModifiedSince(header(req, 'if-modified-since'), found.lastUpdated)) {
    return { status: 304, headers: {} };
  }
  return respondStored(deps, req, found);
}

/**
 * Conditional read by date (RFC 9110 §13.1.3): not modified when the version is no newer than the
 * given HTTP date, compared in whole seconds as HTTP dates are. Ignored when If-None-Match is
 * present (it takes precedence) or the date does not parse, as HTTP prescribes.
 */
function notModifiedSince(value: string | undefined, lastUpdated: Date): boolean {
  if (value === undefined) return false;
  const since = Date.parse(value);
  return Number.isFinite(since) && Math.floor(lastUpdated.getTime() / 1000) <= Math.floor(since / 1000);
}

export async function vread(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  const id = requireId(req.path[1]);
  const version = Number(req.path[3]);
  if (!Number.isInteger(version) || version < 1) throw new HavenError('incorrect', 'BAD_VERSION', `Invalid version id: ${req.path[3]}`);
  deps.authorize(ctx, type, 'read');
  return respondStored(deps, req, await (tx ?? deps.store).vread(ctx, type, id, version));
}

/** Runs `work` in the caller's transaction when inside a Bundle, else in a new one. */
function inTx<T>(deps: FhirDeps, ctx: RequestContext, tx: StoreTransaction | undefined, work: (tx: StoreTransaction) => Promise<T>) {
  return tx ? work(tx) : deps.store.transaction(ctx, work);
}

export async function create(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'create');
  refuseCreateQuery(req.query);
  const resource = requireResourceBody(req.body, type);
  validateForWrite(deps, resource);
  const ifNoneExist = header(req, 'if-none-exist');
  return inTx(deps, ctx, tx, async (t) => {
    if (ifNoneExist !== undefined) {
      deps.authorize(ctx, type, 'search');
      await serializeConditions(t, ctx, [{ type, criteria: ifNoneExist }]);
      const match = await resolveConditional(deps, ctx, t, type, ifNoneExist, 'If-None-Exist');
      if (match) return respondWritten(req, match, 200, `${type}/${match.id} already exists; nothing created`);
    }
    const [result] = await t.write(ctx, [{ kind: 'create', resource }]);
    return respondWritten(req, result!.stored, 201, `Created ${type}/${result!.stored.id}`);
  });
}

export async function update(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'update');
  const resource = requireResourceBody(req.body, type);
  const ifMatch = parseETag(header(req, 'if-match'), 'If-Match');
  const conditional = req.path[1] === undefined;
  if (!conditional) {
    const id = requireId(req.path[1]);
    if (resource.id !== id) {
      throw new HavenError('incorrect', 'ID_MISMATCH', `The body's id (${resource.id ?? 'missing'}) must equal the URL id (${id})`, { expression: [`${type}.id`] });
    }
  }
  validateForWrite(deps, resource);
  return inTx(deps, ctx, tx, async (t) => {
    let id = req.path[1];
    if (conditional) {
      deps.authorize(ctx, type, 'search');
      await serializeConditions(t, ctx, [{ type, criteria: searchString(req) }]);
      const match = await resolveConditional(deps, ctx, t, type, searchString(req), 'conditional update');
      if (match && resource.id !== undefined && resource.id !== match.id) {
        throw new HavenError('incorrect', 'ID_MISMATCH', `The body's id (${resource.id}) differs from the matched resource (${match.id})`);
      }
      id = match?.id ?? resource.id;
      if (!id) {
        const [created] = await t.write(ctx, [{ kind: 'create', resource }]);
        return respondWritten(req, created!.stored, 201, `Created ${type}/${created!.stored.id}`);
      }
    }
    const [result] = await t.write(ctx, [{ kind: 'update', resource, id: id!, ...(ifMatch !== undefined ? { ifMatch } : {}) }]);
    const s = result!.stored;
    return respondWritten(req, s, result!.created ? 201 : 200, writtenMessage(result!, result!.created ? 'Created' : 'Updated'));
  });
}

/** `PATCH Type/id`, or conditionally `PATCH Type?criteria` (one match is patched, none is 404, several 412). */
export async function patch(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  const conditional = req.path[1] === undefined;
  deps.authorize(ctx, type, 'update');
  const body = req.body;
  const fhirPathPatch = isParameters(body);
  if (!Array.isArray(body) && !fhirPathPatch) {
    throw new HavenError('incorrect', 'PATCH_NOT_JSON_PATCH', 'PATCH needs a JSON Patch document (application/json-patch+json) or a FHIRPath Patch Parameters resource');
  }
  const ifMatch = parseETag(header(req, 'if-match'), 'If-Match');
  return inTx(deps, ctx, tx, async (t) => {
    let id: string;
    if (conditional) {
      deps.authorize(ctx, type, 'search');
      const match = await resolveConditional(deps, ctx, t, type, searchString(req), 'conditional patch');
      if (!match) throw new HavenError('not-found', 'RESOURCE_NOT_FOUND', `conditional patch: no ${type} matches the criteria`);
      id = match.id;
    } else {
      id = requireId(req.path[1]);
    }
    const current = await t.read(ctx, type, id);
    const stored = JSON.parse(current.json!) as FhirResource;
    const patched = fhirPathPatch ? (applyFhirPathPatch(stored, body, deps.elementsOf) as FhirResource) : applyJsonPatch(stored, body as jsonPatch.Operation[]);
    if (patched.resourceType !== type || patched.id !== id) {
      throw new HavenError('unprocessable', 'PATCH_CHANGES_IDENTITY', 'A patch may not change resourceType or id');
    }
    validateForWrite(deps, patched);
    const [result] = await t.write(ctx, [{ kind: 'update', resource: patched, id, method: 'PATCH', ifMatch: ifMatch ?? current.versionId }]);
    return respondWritten(req, result!.stored, 200, writtenMessage(result!, 'Patched'));
  });
}

/** Path segments no FHIR element has and that would reach an object's prototype in JavaScript. */
const PROTOTYPE_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

/** The index of the first operation whose `path` or `from` names a prototype segment, or -1. */
function prototypePathAt(ops: unknown[]): number {
  return ops.findIndex((op) => {
    if (!op || typeof op !== 'object') return false;
    const { path, from } = op as { path?: unknown; from?: unknown };
    return [path, from].some((p) => typeof p === 'string' && p.split('/').some((seg) => PROTOTYPE_SEGMENTS.has(seg.replaceAll('~1', '/').replaceAll('~0', '~'))));
  });
}

function applyJsonPatch(doc: FhirResource, ops: jsonPatch.Operation[]): FhirResource {
  // Refused before the library sees them: fast-json-patch throws a bare TypeError for `__proto__`
  // (a 500), and `constructor`/`prototype` are not elements of any FHIR resource.
  const prototypeAt = prototypePathAt(ops);
  if (prototypeAt >= 0) throw new HavenError('unprocessable', 'PATCH_INVALID', `JSON Patch failed: operation ${prototypeAt} names __proto__, constructor or prototype, which no FHIR element is`);
  let error: ReturnType<typeof jsonPatch.validate>;
  try {
    error = jsonPatch.validate(ops, doc);
  } catch (err) {
    // The document is a stored resource, so anything the library throws here comes from the patch.
    throw new HavenError('unprocessable', 'PATCH_INVALID', `JSON Patch failed: ${err instanceof Error ? err.name : 'error'}`);
  }
  if (error) throw new HavenError('unprocessable', 'PATCH_INVALID', `JSON Patch failed: ${error.name} at operation ${error.index ?? '?'}`);
  try {
    return jsonPatch.applyPatch(doc, ops, false, false).newDocument;
  } catch (err) {
    const name = err instanceof Error ? err.name : 'error';
    throw new HavenError('unprocessable', 'PATCH_INVALID', `JSON Patch failed: ${name}`);
  }
}

export async function remove(deps: FhirDeps, ctx: RequestContext, req: FhirRequest, tx?: StoreTransaction): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'delete');
  const ifMatch = parseETag(header(req, 'if-match'), 'If-Match');
  return inTx(deps, ctx, tx, async (t) => {
    let id = req.path[1];
    if (id === undefined) {
      deps.authorize(ctx, type, 'search');
      const match = await resolveConditional(deps, ctx, t, type, searchString(req), 'conditional delete');
      if (!match) return { status: 204, headers: {} };
      id = match.id;
    }
    const [result] = await t.write(ctx, [{ kind: 'delete', resourceType: type, id: requireId(id), ...(ifMatch !== undefined ? { ifMatch } : {}) }]);
    const headers: Record<string, string> = result!.noop ? {} : { ETag: `W/"${result!.stored.versionId}"` };
    return { status: 200, headers, body: outcome([{ severity: 'information', code: 'informational', diagnostics: result!.noop ? `${type}/${id} did not exist` : `Deleted ${type}/${id}` }]) };
  });
}

function searchString(req: FhirRequest): string {
  return req.query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}
