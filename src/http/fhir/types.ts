import type { RequestContext } from '../../kernel/index.js';
import type { FhirResource } from '../../store/index.js';

/** A FHIR interaction request, independent of the HTTP framework (also built from Bundle entries). */
export interface FhirRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  /** Path below the FHIR base, split: ['Patient', '123', '_history', '2']. */
  path: string[];
  /** Query parameters in order (repeats kept). */
  query: [string, string][];
  /** Lower-case header names. */
  headers: Record<string, string | undefined>;
  /** Parsed JSON body (resource, JSON Patch array, or form fields for _search). */
  body?: unknown;
  /** Absolute URL of the FHIR base (no trailing slash), for fullUrl, Location and links. */
  baseUrl: string;
}

/** A response: body is a resource object, or its JSON text (fast path: bytes read from the store, sent as is). */
export interface FhirResponse {
  status: number;
  headers: Record<string, string>;
  body?: FhirResource | string;
}

export type Interaction = (ctx: RequestContext, req: FhirRequest) => Promise<FhirResponse>;

export function header(req: FhirRequest, name: string): string | undefined {
  return req.headers[name.toLowerCase()];
}

export function queryValue(req: FhirRequest, name: string): string | undefined {
  return req.query.find(([k]) => k === name)?.[1];
}
