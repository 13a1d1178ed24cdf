import { HavenError } from '../../kernel/index.js';
import type { FhirDeps } from './deps.js';
import { header, type FhirRequest } from './types.js';

export type BundleKind = 'batch' | 'transaction';
type Method = FhirRequest['method'];

/** One Bundle entry turned into the request it stands for. */
export interface ParsedEntry {
  /** Position in the submitted Bundle: responses keep this order. */
  index: number;
  fullUrl?: string;
  request: FhirRequest;
}

export interface ParsedBundle {
  kind: BundleKind;
  /** A parsed entry, or the error that makes it unusable (a batch answers it alone; a transaction fails). */
  entries: (ParsedEntry | HavenError)[];
}

const METHODS = new Set<string>(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);

// Bundle.entry.request elements that stand for HTTP headers of the entry's interaction.
const HEADER_FIELDS: [string, string][] = [
  ['ifMatch', 'if-match'],
  ['ifNoneMatch', 'if-none-match'],
  ['ifNoneExist', 'if-none-exist'],
  ['ifModifiedSince', 'if-modified-since'],
];

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Checks the envelope (a batch or transaction Bundle within limits) and parses every entry. */
export function parseBundle(deps: FhirDeps, req: FhirRequest): ParsedBundle {
  const body = req.body;
  if (!isObject(body) || body.resourceType !== 'Bundle') {
    throw new HavenError('incorrect', 'BODY_NOT_BUNDLE', 'POST to the FHIR base needs a Bundle of type batch or transaction', { expression: ['Bundle'] });
  }
  if (body.type !== 'batch' && body.type !== 'transaction') {
    const type = typeof body.type === 'string' ? body.type : 'missing';
    throw new HavenError('incorrect', 'BUNDLE_TYPE_UNSUPPORTED', `Bundle type ${type} cannot be processed; use batch or transaction`, { expression: ['Bundle.type'] });
  }
  const raw = body.entry ?? [];
  if (!Array.isArray(raw)) throw new HavenError('incorrect', 'BUNDLE_BAD_ENTRY', 'Bundle.entry must be an array', { expression: ['Bundle.entry'] });
  if (raw.length > deps.limits.maxBundleEntries) {
    throw new HavenError('too-large', 'BUNDLE_TOO_MANY_ENTRIES', `The Bundle has ${raw.length} entries; at most ${deps.limits.maxBundleEntries} are accepted`, { expression: ['Bundle.entry'] });
  }
  const entries = raw.map((entry: unknown, index) => {
    try {
      return parseEntry(entry, index, req);
    } catch (err) {
      if (err instanceof HavenError) return err;
      throw err;
    }
  });
  return { kind: body.type, entries };
}

function badEntry(index: number, message: string, where = 'request'): HavenError {
  return new HavenError('incorrect', 'BUNDLE_BAD_ENTRY', `Bundle.entry[${index}]: ${message}`, { expression: [`Bundle.entry[${index}].${where}`] });
}

function parseEntry(entry: unknown, index: number, outer: FhirRequest): ParsedEntry {
  if (!isObject(entry)) throw badEntry(index, 'an entry must be an object', 'request');
  const request = entry.request;
  if (!isObject(request) || typeof request.method !== 'string' || typeof request.url !== 'string' || request.url === '') {
    throw badEntry(index, 'request.method and request.url are required');
  }
  const method = request.method.toUpperCase();
  if (!METHODS.has(method)) throw badEntry(index, `unsupported request.method ${request.method}`);
  const { path, query } = parseEntryUrl(request.url, outer.baseUrl, index);
  // A Bundle inside a Bundle would recurse through the router; R4 gives it no meaning.
  if (path.length === 0 && method !== 'GET' && method !== 'HEAD') throw badEntry(index, 'an entry cannot post to the FHIR base');
  const headers: Record<string, string | undefined> = {};
  const prefer = header(outer, 'prefer');
  if (prefer !== undefined) headers.prefer = prefer;
  for (const [field, name] of HEADER_FIELDS) {
    const v = request[field];
    if (typeof v === 'string') headers[name] = v;
    else if (v !== undefined) throw badEntry(index, `request.${field} must be a string`);
  }
  if (entry.fullUrl !== undefined && typeof entry.fullUrl !== 'string') throw badEntry(index, 'fullUrl must be a string', 'fullUrl');
  const body = method === 'PATCH' ? patchBody(entry.resource, index) : entry.resource;
  return {
    index,
    ...(typeof entry.fullUrl === 'string' ? { fullUrl: entry.fullUrl } : {}),
    request: { method: method as Method, path, query, headers, baseUrl: outer.baseUrl, ...(body !== undefined ? { body } : {}) },
  };
}

/** Splits `Patient/1`, `Patient?name=x`, or an absolute URL on this server's base into path and query. */
export function parseEntryUrl(url: string, baseUrl: string, index: number): { path: string[]; query: [string, string][] } {
  let rest = url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    if (url !== baseUrl && !url.startsWith(`${baseUrl}/`) && !url.startsWith(`${baseUrl}?`)) {
      throw badEntry(index, 'request.url must be relative or on this server\'s base', 'request.url');
    }
    rest = url.slice(baseUrl.length);
  }
  const q = rest.indexOf('?');
  const pathPart = (q < 0 ? rest : rest.slice(0, q)).replace(/^\/+|\/+$/g, '');
  let path: string[];
  try {
    path = pathPart === '' ? [] : pathPart.split('/').map((s) => decodeURIComponent(s));
  } catch {
    throw badEntry(index, 'request.url is not a valid URL', 'request.url');
  }
  const query = q < 0 ? [] : [...new URLSearchParams(rest.slice(q + 1))];
  return { path, query };
}

/**
 * In a Bundle a JSON Patch travels as a Binary (R4 http.html#patch): its data
 * is the base64 patch document. A bare patch array is accepted too, and a
 * FHIRPath Patch is its Parameters resource.
 */
function patchBody(resource: unknown, index: number): unknown {
  if (Array.isArray(resource) || resource === undefined) return resource;
  if (isObject(resource) && resource.resourceType === 'Parameters') return resource;
  if (isObject(resource) && resource.resourceType === 'Binary' && typeof resource.data === 'string') {
    try {
      return JSON.parse(Buffer.from(resource.data, 'base64').toString('utf8')) as unknown;
    } catch {
      throw badEntry(index, 'the Binary of a PATCH entry must hold a JSON Patch document', 'resource');
    }
  }
  throw badEntry(index, 'a PATCH entry needs a Binary resource holding a JSON Patch document, or a FHIRPath Patch Parameters resource', 'resource');
}
