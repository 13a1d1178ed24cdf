import { HavenError, type Issue, type Logger } from '../../kernel/index.js';
import type { StoredResource } from '../../store/index.js';
import { toHttpError } from '../errors.js';
import { bundleText } from './bundle-json.js';
import type { BundleKind } from './bundle-entries.js';
import { etag, outcome, preferReturn } from './respond.js';
import type { FhirRequest, FhirResponse } from './types.js';

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** Bundle.entry.response.status: the HTTP status code, then its reason phrase. */
export function statusLine(status: number): string {
  const text = STATUS_TEXT[status];
  return text ? `${status} ${text}` : String(status);
}

const entryJson = (parts: { fullUrl?: string; resource?: string; response: object }): string =>
  `{${parts.fullUrl ? `"fullUrl":${JSON.stringify(parts.fullUrl)},` : ''}${parts.resource ? `"resource":${parts.resource},` : ''}"response":${JSON.stringify(parts.response)}}`;

/** Response entry of a write (or of a conditional create that matched), honouring Prefer: return=… */
export function writtenEntry(req: FhirRequest, s: StoredResource, status: number, message: string): string {
  const response: Record<string, unknown> = {
    status: statusLine(status),
    location: `${req.baseUrl}/${s.resourceType}/${s.id}/_history/${s.versionId}`,
    etag: etag(s.versionId),
    lastModified: s.lastUpdated.toISOString(),
  };
  switch (preferReturn(req)) {
    case 'minimal':
      return entryJson({ response });
    case 'OperationOutcome':
      response.outcome = outcome([{ severity: 'information', code: 'informational', diagnostics: message }]);
      return entryJson({ response });
    case 'representation':
      return entryJson({ fullUrl: `${req.baseUrl}/${s.resourceType}/${s.id}`, ...(s.json ? { resource: s.json } : {}), response });
  }
}

/** Response entry of a delete: 204, with the ETag of the deletion when something was deleted. */
export function deletedEntry(versionId: number | undefined): string {
  return entryJson({ response: versionId === undefined ? { status: statusLine(204) } : { status: statusLine(204), etag: etag(versionId) } });
}

/** Response entry from an interaction run through the router (GET, PATCH, conditional writes in a batch). */
export function routedEntry(req: FhirRequest, res: FhirResponse): string {
  const response: Record<string, unknown> = { status: statusLine(res.status) };
  const location = res.headers.Location;
  if (location) response.location = location;
  if (res.headers.ETag) response.etag = res.headers.ETag;
  const modified = res.headers['Last-Modified'];
  if (modified) response.lastModified = new Date(modified).toISOString();
  if (res.body === undefined || req.method === 'HEAD') return entryJson({ response });
  const isOutcome = typeof res.body === 'object' && res.body.resourceType === 'OperationOutcome';
  if (isOutcome && req.method !== 'GET') {
    response.outcome = res.body;
    return entryJson({ response });
  }
  return entryJson({ resource: typeof res.body === 'string' ? res.body : JSON.stringify(res.body), response });
}

/** A failed batch entry: its status and OperationOutcome, the rest of the batch unaffected. */
export function errorEntry(err: unknown, logger: Logger, requestId: string): { entry: string; status: number } {
  const http = toHttpError(err, logger, requestId);
  return { entry: entryJson({ response: { status: statusLine(http.status), outcome: http.outcome } }), status: http.status };
}

/** Rewords an entry's error so its OperationOutcome names `Bundle.entry[i]`. */
export function atEntry(err: unknown, index: number): unknown {
  if (!(err instanceof HavenError)) return err;
  const prefix = `Bundle.entry[${index}]`;
  if (err.issues.every((i) => i.expression?.some((e) => e.startsWith(prefix)))) return err;
  const issues: Issue[] = err.issues.map((i) => ({
    ...i,
    diagnostics: `${prefix}: ${i.diagnostics}`,
    expression: [prefix, ...(i.expression ?? []).map((e) => `${prefix}.resource${e.replace(/^[A-Z][A-Za-z]*(?=\.|$)/, '').replace(/^(?!\.|$)/, '.')}`)],
  }));
  return new HavenError(err.category, err.code, `${prefix}: ${err.message}`, { issues, headers: err.headers, cause: err });
}

export function bundleResponse(kind: BundleKind, entries: string[]): FhirResponse {
  const type = kind === 'batch' ? 'batch-response' : 'transaction-response';
  return { status: 200, headers: {}, body: bundleText(type, { links: [], entries, lastUpdated: new Date() }) };
}
