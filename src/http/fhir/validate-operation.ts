import { HavenError, type RequestContext } from '../../kernel/index.js';
import type { FhirResource } from '../../store/index.js';
import { requireType } from './checks.js';
import type { FhirDeps } from './deps.js';
import { outcome } from './respond.js';
import type { FhirRequest, FhirResponse } from './types.js';

/** The resource to validate: the body itself, or Parameters.parameter[name=resource].resource. */
function resourceOf(body: unknown): unknown {
  const b = body as { resourceType?: string; parameter?: { name?: string; resource?: unknown }[] } | undefined;
  if (b?.resourceType === 'Parameters') return b.parameter?.find((p) => p.name === 'resource')?.resource;
  return body;
}

/**
 * `$validate` (POST [type]/$validate, [type]/[id]/$validate): validates without
 * storing and answers 200 with an OperationOutcome listing every issue.
 */
export async function validateOperation(deps: FhirDeps, ctx: RequestContext, req: FhirRequest): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'read');
  const resource = resourceOf(req.body) as FhirResource | undefined;
  if (!resource || typeof resource !== 'object') {
    throw new HavenError('incorrect', 'VALIDATE_NO_RESOURCE', '$validate needs a resource in the body (or Parameters with a "resource" parameter)');
  }
  if (resource.resourceType !== type) {
    throw new HavenError('incorrect', 'RESOURCE_TYPE_MISMATCH', `The resource is a ${String(resource.resourceType)}, not a ${type}`, { expression: ['resourceType'] });
  }
  const issues = deps.validate(resource);
  if (issues.length === 0) return { status: 200, headers: {}, body: outcome([{ severity: 'information', code: 'informational', diagnostics: 'No issues found' }]) };
  return { status: 200, headers: {}, body: outcome(issues) };
}
