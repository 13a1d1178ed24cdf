import { HavenError, isFhirId } from '../../kernel/index.js';
import type { FhirResource } from '../../store/index.js';
import type { FhirDeps } from './deps.js';

/** The resource type in the path must be one Haven knows. */
export function requireType(deps: FhirDeps, type: string | undefined): string {
  if (!type || !deps.fhir.isResourceType(type)) {
    throw new HavenError('not-found', 'UNKNOWN_RESOURCE_TYPE', `Unknown resource type: ${type ?? '(none)'}`);
  }
  return type;
}

export function requireId(id: string | undefined): string {
  if (!id || !isFhirId(id)) throw new HavenError('incorrect', 'BAD_ID', `Invalid resource id: ${id ?? '(none)'}`);
  return id;
}

// What a create's URL may carry besides the type: the response format only.
const CREATE_QUERY_ALLOWED = new Set(['_format', '_pretty']);

/**
 * `POST [type]?identifier=…` reads like a conditional create but is not one (R4 http.html#create):
 * the criteria belong in If-None-Exist (`request.ifNoneExist` in a Bundle). Creating anyway would
 * ignore conditions the client meant, so the request is refused. Names parameters, never values.
 */
export function refuseCreateQuery(query: [string, string][]): void {
  const names = [...new Set(query.map(([k]) => k).filter((k) => !CREATE_QUERY_ALLOWED.has(k)))];
  if (names.length === 0) return;
  throw new HavenError(
    'incorrect',
    'CREATE_QUERY_UNSUPPORTED',
    `A create takes no search parameters in its URL (${names.join(', ')}); for a conditional create send them in If-None-Exist (request.ifNoneExist in a Bundle)`,
  );
}

/** The body must be a JSON object of the expected resourceType. */
export function requireResourceBody(body: unknown, type: string): FhirResource {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HavenError('incorrect', 'BODY_NOT_RESOURCE', 'The request body must be a FHIR resource (a JSON object)');
  }
  const resourceType = (body as { resourceType?: unknown }).resourceType;
  if (resourceType !== type) {
    throw new HavenError(
      'incorrect',
      'RESOURCE_TYPE_MISMATCH',
      `The body's resourceType (${typeof resourceType === 'string' ? resourceType : 'missing'}) does not match the URL (${type})`,
      { expression: ['resourceType'] },
    );
  }
  return body as FhirResource;
}

/** Validates on write (configurable); any error-level issue rejects the write with 422... or 400 for structure. */
export function validateForWrite(deps: FhirDeps, resource: FhirResource): void {
  if (!deps.limits.validateOnWrite) return;
  const issues = deps.validate(resource);
  const errors = issues.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  if (errors.length > 0) {
    throw new HavenError('unprocessable', 'VALIDATION_FAILED', errors[0]!.diagnostics, { issues: errors });
  }
}

/** A Parameters resource as operation inputs arrive (`$validate`, FHIRPath Patch); only the members read here are typed. */
export interface ParametersBody {
  resourceType: 'Parameters';
  parameter?: { name?: string; resource?: unknown; valueUri?: unknown; valueCanonical?: unknown; valueString?: unknown; valueCode?: unknown }[];
}

export function isParameters(body: unknown): body is ParametersBody {
  return typeof body === 'object' && body !== null && (body as { resourceType?: unknown }).resourceType === 'Parameters';
}
