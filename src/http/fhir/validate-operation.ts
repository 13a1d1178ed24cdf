import { HavenError, type Issue, type RequestContext } from '../../kernel/index.js';
import type { FhirResource } from '../../store/index.js';
import { isParameters, requireType } from './checks.js';
import type { FhirDeps } from './deps.js';
import { outcome } from './respond.js';
import type { FhirRequest, FhirResponse } from './types.js';

/** The resource to validate: the body itself, or Parameters.parameter[name=resource].resource. */
function resourceOf(body: unknown): unknown {
  return isParameters(body) ? body.parameter?.find((p) => p.name === 'resource')?.resource : body;
}

/** A scalar input of the operation, from the query or a Parameters body (R4 Resource-validate: `mode`, `profile`). */
function inputOf(req: FhirRequest, name: 'mode' | 'profile'): string | undefined {
  const fromQuery = req.query.find(([k]) => k === name)?.[1];
  if (fromQuery !== undefined) return fromQuery;
  if (!isParameters(req.body)) return undefined;
  const p = req.body.parameter?.find((x) => x.name === name);
  const v = p?.valueCode ?? p?.valueUri ?? p?.valueCanonical ?? p?.valueString;
  return typeof v === 'string' ? v : undefined;
}

const MODES = new Set(['create', 'update', 'delete', 'profile']);
const baseProfile = (type: string) => `http://hl7.org/fhir/StructureDefinition/${type}`;
const withoutVersion = (url: string) => url.split('|')[0]!;

/**
 * `$validate` (POST [type]/$validate, [type]/[id]/$validate): validates without
 * storing and answers 200 with an OperationOutcome listing every issue.
 * Haven checks the base R4 StructureDefinitions only: a nominated `profile`
 * it cannot check is refused (the operation requires an error then), and
 * profiles the resource claims in meta.profile are reported as not checked.
 */
export async function validateOperation(deps: FhirDeps, ctx: RequestContext, req: FhirRequest): Promise<FhirResponse> {
  const type = requireType(deps, req.path[0]);
  deps.authorize(ctx, type, 'read');
  const mode = inputOf(req, 'mode');
  if (mode !== undefined && !MODES.has(mode)) {
    throw new HavenError('incorrect', 'VALIDATE_BAD_MODE', `$validate mode must be create, update, delete or profile, not ${JSON.stringify(mode.slice(0, 40))}`, { expression: ['mode'] });
  }
  const profile = inputOf(req, 'profile');
  if (profile !== undefined && withoutVersion(profile) !== baseProfile(type)) {
    throw new HavenError('incorrect', 'VALIDATE_PROFILE_UNSUPPORTED', `Haven validates against the base R4 StructureDefinitions only and cannot check the profile ${profile.slice(0, 200)}`, { expression: ['profile'] });
  }
  // Haven keeps no referential integrity on delete: any existing resource may be deleted.
  if (mode === 'delete') return { status: 200, headers: {}, body: outcome([{ severity: 'information', code: 'informational', diagnostics: 'No issues found' }]) };
  const resource = resourceOf(req.body) as FhirResource | undefined;
  if (!resource || typeof resource !== 'object') {
    throw new HavenError('incorrect', 'VALIDATE_NO_RESOURCE', '$validate needs a resource in the body (or Parameters with a "resource" parameter)');
  }
  if (resource.resourceType !== type) {
    throw new HavenError('incorrect', 'RESOURCE_TYPE_MISMATCH', `The resource is a ${String(resource.resourceType)}, not a ${type}`, { expression: ['resourceType'] });
  }
  const issues: Issue[] = deps.validate(resource);
  if (mode === 'update' && (resource.id === undefined || (req.path[1] !== undefined && resource.id !== req.path[1]))) {
    issues.push({ severity: 'error', code: 'required', diagnostics: 'An update needs the resource id (the same as in the URL)', expression: ['id'] });
  }
  const claimed = (resource.meta as { profile?: unknown } | undefined)?.profile;
  for (const url of Array.isArray(claimed) ? claimed : []) {
    if (typeof url === 'string' && withoutVersion(url) !== baseProfile(type)) {
      issues.push({ severity: 'warning', code: 'not-supported', diagnostics: `Profile ${url.slice(0, 200)} (meta.profile) was not checked: Haven validates against the base R4 StructureDefinitions only`, expression: ['meta.profile'] });
    }
  }
  if (issues.length === 0) return { status: 200, headers: {}, body: outcome([{ severity: 'information', code: 'informational', diagnostics: 'No issues found' }]) };
  return { status: 200, headers: {}, body: outcome(issues) };
}
