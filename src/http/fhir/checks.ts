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
