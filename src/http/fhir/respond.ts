import { HavenError, type Issue } from '../../kernel/index.js';
import type { FhirResource, StoredResource, WriteResult } from '../../store/index.js';
import { outcomeOf } from '../errors.js';
import { header, queryValue, type FhirRequest, type FhirResponse } from './types.js';
import type { FhirDeps } from './deps.js';

export function etag(version: number): string {
  return `W/"${version}"`;
}

/** Parses `W/"3"` or `"3"` (If-Match); undefined when absent. */
export function parseETag(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(?:W\/)?"(\d+)"$/.exec(value.trim());
  if (!m) throw new HavenError('incorrect', 'BAD_ETAG', `${name} must be a version ETag like W/"3"`);
  return Number(m[1]);
}

export function versionHeaders(req: FhirRequest, s: StoredResource): Record<string, string> {
  return {
    ETag: etag(s.versionId),
    'Last-Modified': s.lastUpdated.toUTCString(),
    Location: `${req.baseUrl}/${s.resourceType}/${s.id}/_history/${s.versionId}`,
  };
}

/** Applies _summary / _elements when asked; otherwise returns the stored JSON text untouched. */
export function shapeForOutput(deps: FhirDeps, req: FhirRequest, json: string): FhirResource | string {
  const summary = queryValue(req, '_summary');
  const elements = queryValue(req, '_elements');
  if (!summary && !elements) return json;
  let resource = JSON.parse(json) as FhirResource;
  if (summary && summary !== 'false') {
    if (!['true', 'text', 'data', 'count'].includes(summary)) {
      throw new HavenError('incorrect', 'BAD_SUMMARY', `_summary must be one of true, text, data, count, false`, { expression: ['_summary'] });
    }
    resource = deps.fhir.applySummary(resource, summary === 'count' ? 'true' : (summary as 'true' | 'text' | 'data'));
  }
  if (elements) resource = deps.fhir.applyElements(resource, elements.split(',').map((e) => e.trim()).filter(Boolean));
  return resource;
}

export function respondStored(deps: FhirDeps, req: FhirRequest, s: StoredResource, status = 200): FhirResponse {
  const headers = versionHeaders(req, s);
  delete headers.Location;
  headers['Content-Location'] = `${req.baseUrl}/${s.resourceType}/${s.id}/_history/${s.versionId}`;
  return { status, headers, body: shapeForOutput(deps, req, s.json!) };
}

type PreferReturn = 'minimal' | 'representation' | 'OperationOutcome';

export function preferReturn(req: FhirRequest): PreferReturn {
  const prefer = header(req, 'prefer') ?? '';
  const m = /return=(minimal|representation|OperationOutcome)/.exec(prefer);
  return (m?.[1] as PreferReturn | undefined) ?? 'representation';
}

/** Response to a successful write, honouring Prefer: return=… */
export function respondWritten(req: FhirRequest, s: StoredResource, status: number, message: string): FhirResponse {
  const headers = versionHeaders(req, s);
  switch (preferReturn(req)) {
    case 'minimal':
      return { status, headers };
    case 'OperationOutcome':
      return { status, headers, body: outcome([{ severity: 'information', code: 'informational', diagnostics: message }]) };
    case 'representation':
      return { status, headers, body: s.json ?? undefined };
  }
}

/** The diagnostics of a write's OperationOutcome (Prefer: return=OperationOutcome); an update that changed nothing says so. */
export function writtenMessage(result: WriteResult, verb: string): string {
  const s = result.stored;
  return result.noop ? `No change to ${s.resourceType}/${s.id}; version ${s.versionId} kept` : `${verb} ${s.resourceType}/${s.id}`;
}

export function outcome(issues: Issue[]): FhirResource {
  return outcomeOf(issues) as unknown as FhirResource;
}
