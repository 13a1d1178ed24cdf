import { HavenError } from '../kernel/index.js';
import type { RequestContext } from '../kernel/index.js';
import type { PolicyInteraction, ResolvedPolicy } from './access-policy.js';
import type { EffectiveAccess, PolicyPrincipal } from './access-resolver.js';

/**
 * Access-policy decisions for one request (docs/security/identity.md, Access
 * policies). Pure functions over the principal's resolved access; the SQL
 * checks and the store wiring are in policy-guard.ts.
 */
export type Restriction = Array<Array<readonly [string, string]>>;

/** The policies in force, or undefined when none apply (no roles in the tenant, clients, patients, break-glass). */
export function policyAccess(ctx: RequestContext): EffectiveAccess | undefined {
  const access = (ctx.principal as PolicyPrincipal).access;
  if (!access || access.breakGlass) return undefined;
  return access;
}

function applicable(access: EffectiveAccess, type: string, interaction: PolicyInteraction): ResolvedPolicy[] {
  return access.policies.filter((p) => (p.resourceType === '*' || p.resourceType === type) && p.interactions.has(interaction));
}

export function policyDenied(type: string, interaction: PolicyInteraction): HavenError {
  return new HavenError('forbidden', 'AUTH_POLICY_DENIED', `No access policy of your roles permits ${interaction} on ${type}`, {
    expression: [type],
  });
}

/** Throws 403 when no policy of the user's roles grants `interaction` on `type`. */
export function requirePolicy(ctx: RequestContext, type: string, interaction: PolicyInteraction): void {
  const access = policyAccess(ctx);
  if (!access) return;
  if (applicable(access, type, interaction).length === 0) throw policyDenied(type, interaction);
  // Writing a type whose elements are hidden from you (through any role) would erase or overwrite what you cannot see.
  if ((interaction === 'create' || interaction === 'update') && hiddenElements(ctx, type).length > 0) {
    throw new HavenError('forbidden', 'AUTH_POLICY_DENIED', `Elements of ${type} are hidden from you, so you cannot ${interaction} it`, { expression: [type] });
  }
}

export interface CompartmentParams {
  /** Reference parameters of `type` linking it to the Patient compartment. */
  paramsFor(type: string): readonly string[];
}

/**
 * The ways a resource of `type` lies in a policy's compartment, one `[param, value]`
 * each: R4 compartment membership is ANY of the parameters the CompartmentDefinition
 * lists (Observation: `subject` or `performer`), so each becomes its own OR-ed
 * group. Empty when the compartment cannot apply (no patient, no parameter).
 */
function compartmentPairs(compartment: string, type: string, patient: string | undefined, cp: CompartmentParams): ReadonlyArray<readonly [string, string]> {
  const id = compartment === 'Patient/{patient}' ? patient : compartment.slice('Patient/'.length);
  if (id === undefined) return [];
  if (type === 'Patient') return [['_id', id]];
  return cp.paramsFor(type).map((param) => [param, `Patient/${id}`] as const);
}

/**
 * The criteria that narrow `interaction` on `type`: undefined when some policy
 * grants it unfiltered, else one group per policy — per compartment link when
 * the policy names a compartment — OR-ed, each AND-ed. A policy whose
 * compartment cannot apply contributes nothing (fail closed).
 */
export function restrictionFor(ctx: RequestContext, type: string, interaction: PolicyInteraction, cp: CompartmentParams): Restriction | undefined {
  const access = policyAccess(ctx);
  if (!access) return undefined;
  const policies = applicable(access, type, interaction);
  if (policies.length === 0) throw policyDenied(type, interaction);
  if (policies.some((p) => p.criteria.length === 0 && !p.compartment)) return undefined;
  const patient = (ctx.principal as PolicyPrincipal).patient;
  const groups: Restriction = [];
  for (const p of policies) {
    if (!p.compartment) {
      groups.push([...p.criteria]);
      continue;
    }
    // A policy whose compartment cannot apply adds no group (fail closed).
    for (const link of compartmentPairs(p.compartment, type, patient, cp)) groups.push([...p.criteria, link]);
  }
  return groups;
}

/** Elements hidden for `type`: the union over the policies that let the user see it (most restrictive wins). */
export function hiddenElements(ctx: RequestContext, type: string): readonly string[] {
  const access = policyAccess(ctx);
  if (!access) return [];
  const hide = new Set<string>();
  for (const p of access.policies) {
    if (p.resourceType === '*' || p.resourceType === type) for (const h of p.hide) hide.add(h);
  }
  return [...hide];
}

const REDACTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'REDACTED', display: 'redacted' };

/** The resource JSON without the hidden elements, labelled REDACTED; unchanged when nothing is hidden. */
export function maskJson(json: string, hide: readonly string[]): string {
  const parsed = JSON.parse(json) as Record<string, unknown> & { meta?: { security?: unknown[] } };
  if (!hide.some((h) => h in parsed)) return json;
  const resource = Object.fromEntries(Object.entries(parsed).filter(([k]) => !hide.includes(k)));
  const meta = parsed.meta ?? {};
  resource['meta'] = { ...meta, security: [...(Array.isArray(meta.security) ? meta.security : []), REDACTED] };
  return JSON.stringify(resource);
}
