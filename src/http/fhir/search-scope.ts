/**
 * Which resource types a search may touch, from the caller's scopes: the
 * types of a system-level or `*` compartment search (only those it may
 * search), and the types `_include`/`_revinclude` may return (only those it
 * may read — included resources are disclosed like reads).
 */
import { limitedToCompartment, scopeFilters } from '../../auth/index.js';
import { HavenError, type RequestContext } from '../../kernel/index.js';
import { requireType } from './checks.js';
import type { FhirDeps, Interaction } from './deps.js';

function allows(deps: FhirDeps, ctx: RequestContext, type: string, interaction: Interaction): boolean {
  try {
    deps.authorize(ctx, type, interaction);
    return true;
  } catch {
    return false;
  }
}

function allowsAll(deps: FhirDeps, ctx: RequestContext, interaction: 'read' | 'search'): boolean {
  try {
    deps.authorizeSystem(ctx, interaction);
    return true;
  } catch {
    return false;
  }
}

/**
 * A token with `patient/` scopes in force sees only its patient's compartment:
 * a search spanning types covers the compartment's member types only (the
 * auth guard around the searcher limits every branch to the compartment in
 * SQL). Types it cannot cover are dropped when the caller did not name them,
 * and refused with a clear OperationOutcome when it did.
 */
function compartmentTypes(deps: FhirDeps, ctx: RequestContext): ((type: string) => boolean) | undefined {
  if (limitedToCompartment(ctx.principal) === undefined) return undefined;
  const table = deps.fhir.compartments;
  return (type) => type === 'Patient' || (table !== undefined && table.paramsFor('Patient', type).length > 0);
}

function outsideCompartment(type: string): HavenError {
  return new HavenError('forbidden', 'AUTH_PATIENT_COMPARTMENT', `${type} is not in the Patient compartment: patient/ scopes cannot search it`, { expression: [type] });
}

/**
 * Refuses (403) a compartment search across types of another patient's compartment (the guard checks
 * again). Other compartments (`Encounter/e1/*`) run intersected with the token's patient's compartment.
 */
export function requireOwnCompartment(ctx: RequestContext, compartment: string, id: string): void {
  const patient = limitedToCompartment(ctx.principal);
  if (patient === undefined || compartment !== 'Patient' || id === patient) return;
  throw new HavenError('forbidden', 'AUTH_PATIENT_COMPARTMENT', `A token with a patient context may search only its own patient's compartment (Patient/${patient}), not ${compartment}/${id}`, {
    expression: [compartment],
  });
}

/**
 * Of a `*` compartment search's member types, those a patient-context token can see: the Patient
 * compartment's (`Practitioner/dr1/*` does not list Practitioners or Organizations to a patient).
 */
export function visibleMemberTypes(deps: FhirDeps, ctx: RequestContext, candidates: readonly string[]): string[] {
  const inCompartment = compartmentTypes(deps, ctx);
  return inCompartment ? candidates.filter(inCompartment) : [...candidates];
}

/** Readable types for includes; computed only when the search has includes. */
export function readableTypes(deps: FhirDeps, ctx: RequestContext, params: [string, string][]): readonly string[] | '*' {
  const all = deps.fhir.resourceTypes;
  if (!params.some(([k]) => k.startsWith('_include') || k.startsWith('_revinclude'))) return '*';
  if (!all) return '*';
  if (allowsAll(deps, ctx, 'read')) return '*';
  return [...all].filter((t) => allows(deps, ctx, t, 'read'));
}

/**
 * Granular scopes (`?category=…`) narrow a type search in SQL, but not yet a search
 * spanning types or reading another type's values (chains, `_has`): refused there.
 */
function granular(ctx: RequestContext, type: string): boolean {
  return scopeFilters(ctx.principal, type, 'search') !== undefined;
}

function refuseGranular(ctx: RequestContext, type: string, what: string): void {
  if (!granular(ctx, type)) return;
  throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', `Your scopes on ${type} are granular: ${what} over it are refused`, { expression: [type] });
}

/** Of `candidates`, the types the caller may search (unfiltered); forbidden when none. */
export function searchableTypes(deps: FhirDeps, ctx: RequestContext, candidates: readonly string[]): string[] {
  const types = candidates.filter((t) => allows(deps, ctx, t, 'search') && !granular(ctx, t));
  if (types.length === 0) {
    throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', 'The granted scopes do not permit search on any of these resource types');
  }
  return types;
}

/** `_type` (each listed type must be searchable) or every type the caller may search. */
export function systemTypes(deps: FhirDeps, ctx: RequestContext, params: [string, string][]): string[] {
  const listed = params.filter(([k]) => k === '_type').flatMap(([, v]) => v.split(',').map((t) => t.trim()).filter((t) => t !== ''));
  if (listed.length > 0) {
    const types = [...new Set(listed)].map((t) => requireType(deps, t));
    const inCompartment = compartmentTypes(deps, ctx);
    for (const t of types) {
      if (inCompartment && !inCompartment(t)) throw outsideCompartment(t);
      deps.authorize(ctx, t, 'search');
      refuseGranular(ctx, t, 'system-level searches');
    }
    return types;
  }
  const inCompartment = compartmentTypes(deps, ctx);
  const all = [...(deps.fhir.resourceTypes ?? [])].filter((t) => !inCompartment || inCompartment(t)).sort();
  if (allowsAll(deps, ctx, 'search')) return all;
  return searchableTypes(deps, ctx, all);
}

/**
 * A chain (`subject:Patient.name=…`), `_has` or `_list` filters on other types' values, which
 * discloses something about them: the caller must be allowed to search each. With a patient
 * context the linked resources must also lie in the compartment (the auth guard's `within`).
 */
export function authorizeLinked(deps: FhirDeps, ctx: RequestContext, types: readonly string[]): void {
  for (const type of types) {
    deps.authorize(ctx, type, 'search');
    refuseGranular(ctx, type, 'chained, _has and _list searches');
  }
}
