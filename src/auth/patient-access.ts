import { HavenError } from '../kernel/index.js';
import type { Principal, RequestContext } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import type { CompartmentLimit } from '../search/index.js';
import { parseScopes } from './scopes.js';
import type { Interaction, ParsedScope, Permission } from './scopes.js';

/**
 * What a token may do on a resource type, across the three scope contexts:
 * `system/` (client tokens), `user/` (user tokens) and `patient/` (tokens with
 * a patient context, limited to that patient's compartment). Granular
 * (`?param=value`) scopes grant read and search only on the resources matching
 * their criteria: `filters`, one group per scope (OR-ed), each AND-ed, which
 * the store and search guards compile into SQL (guard-store.ts).
 */
export type ScopeFilters = Array<Array<readonly [string, string]>>;
export type Access = { kind: 'all'; filters?: ScopeFilters } | { kind: 'compartment'; patient: string; filters?: ScopeFilters };

interface ContextualPrincipal extends Principal {
  readonly patient?: string;
}

const permissionOf: Record<Interaction, Permission> = { create: 'c', read: 'r', update: 'u', delete: 'd', search: 's' };
const parsedByList = new WeakMap<readonly string[], ParsedScope[]>();

function usableScopes(principal: ContextualPrincipal): ParsedScope[] {
  let parsed = parsedByList.get(principal.scopes);
  if (!parsed) {
    parsed = parseScopes(principal.scopes).smart;
    parsedByList.set(principal.scopes, parsed);
  }
  const ctx = principal.kind === 'user' ? 'user' : 'system';
  return parsed.filter((s) => s.context === ctx || (s.context === 'patient' && principal.patient !== undefined));
}

function insufficient(type: string, interaction: Interaction, why = ''): HavenError {
  return new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', `The granted scopes do not permit ${interaction} on ${type}${why}`, {
    expression: [type],
  });
}

/** The access the token grants for `interaction` on `type`; throws 403 when none. */
export function accessFor(principal: Principal, type: string, interaction: Interaction): Access {
  const p = principal as ContextualPrincipal;
  const permission = permissionOf[interaction];
  const all = usableScopes(p).filter((s) => (s.resourceType === '*' || s.resourceType === type) && s.permissions.has(permission));
  const granting = all.filter((s) => s.query === undefined);
  if (granting.some((s) => s.context !== 'patient')) return { kind: 'all' };
  const readOnly = interaction === 'read' || interaction === 'search';
  if (granting.length > 0 && p.patient !== undefined) {
    // The patient's own Patient may be updated, never created or deleted: the compartment is defined by it.
    if (type === 'Patient' && (interaction === 'create' || interaction === 'delete')) {
      throw insufficient(type, interaction, ' (patient/ scopes never create or delete a Patient)');
    }
    // Writes are allowed here and limited to the compartment by the store hooks (guard-store.ts,
    // attachPatientWriteGuard), which check the current and the new content of every write.
    // Granular user/system scopes beside an unfiltered patient/ one are dropped: the narrower grant (fail closed).
    return { kind: 'compartment', patient: p.patient };
  }
  const granular = all.filter((s) => s.query !== undefined);
  if (granular.length === 0) throw insufficient(type, interaction);
  // Writes under granular scopes would need the new content checked against the criteria: not granted yet.
  if (!readOnly) throw insufficient(type, interaction, ' (granular scopes grant read and search only for now)');
  const groups = (list: ParsedScope[]): ScopeFilters => list.map((s) => (s.params ?? []).map(([k, v]) => [k, v] as const));
  const wide = granular.filter((s) => s.context !== 'patient');
  if (wide.length > 0) return { kind: 'all', filters: groups(wide) };
  if (p.patient === undefined) throw insufficient(type, interaction);
  return { kind: 'compartment', patient: p.patient, filters: groups(granular) };
}

/** The granular-scope criteria that narrow `interaction` on `type`, or undefined when unfiltered (or refused). */
export function scopeFilters(principal: Principal, type: string, interaction: Interaction): ScopeFilters | undefined {
  if (!hasGranular(principal)) return undefined;
  try {
    return accessFor(principal, type, interaction).filters;
  } catch {
    return undefined;
  }
}

/** True when the token carries any granular scope (the cheap test before any filtering work). */
export function hasGranular(principal: Principal): boolean {
  return usableScopes(principal as ContextualPrincipal).some((s) => s.query !== undefined);
}

/** A matcher answering, in SQL, which of `ids` match an OR of AND groups (src/app/access.ts). */
export type FilterMatcher = (ctx: RequestContext, type: string, ids: readonly string[], filters: ScopeFilters) => Promise<Set<string>>;

export interface CompartmentDeps {
  db: Queryable;
  /** SQL check of granular-scope criteria on given resources. */
  matcher?: FilterMatcher;
  /** Search parameters linking `type` to the Patient compartment (R4 CompartmentDefinition). */
  paramsFor(compartment: 'Patient', type: string): readonly string[];
  /** Resource types that can be in the Patient compartment. */
  typesIn(compartment: 'Patient'): readonly string[];
}

/**
 * The patient id when the token's `patient/` scopes are in force (a patient context
 * and at least one such scope): then everything a search reaches beyond its matches
 * — chained, `_has` and `_list` targets, included resources — is kept inside
 * the compartment, whatever type it is (fail closed for tokens mixing `user/`).
 */
export function limitedToCompartment(principal: Principal): string | undefined {
  const p = principal as ContextualPrincipal;
  if (p.patient === undefined) return undefined;
  return usableScopes(p).some((s) => s.context === 'patient') ? p.patient : undefined;
}

export function createCompartmentGuard(deps: CompartmentDeps) {
  let members: ReadonlyMap<string, readonly string[]> | undefined;
  // The CompartmentDefinition does not change at run time: the member map is built once.
  const memberMap = () =>
    (members ??= new Map(deps.typesIn('Patient').filter((t) => t !== 'Patient').map((t) => [t, deps.paramsFor('Patient', t)] as const).filter(([, p]) => p.length > 0)));
  return {
    /** The patient's compartment as the search compiler limits linked and included resources to it. */
    limitFor(patient: string): CompartmentLimit {
      return { compartment: 'Patient', id: patient, members: memberMap() };
    },
    /** The patient's compartment as a compartment search of it (`Patient/{id}/*`): what every search of a patient-context token is narrowed to. */
    scopeFor(patient: string): { compartment: 'Patient'; id: string; paramsFor(type: string): readonly string[] } {
      return { compartment: 'Patient', id: patient, paramsFor: (type: string) => (type === 'Patient' ? [] : (memberMap().get(type) ?? [])) };
    },
    /** Refuses (403) a type that cannot be in a Patient compartment: a patient-context search of it could only leak or be empty. */
    requireMemberType(type: string): void {
      if (type !== 'Patient' && !memberMap().has(type)) throw outside(type);
    },
    /**
     * Refuses (403) a compartment search of another patient. Other compartments
     * (`Encounter/e1/…`) are searched intersected with the patient's own, so
     * they are allowed: what comes back is the patient's data in any case.
     */
    requireOwnCompartment(compartment: string, id: string, patient: string): void {
      if (compartment !== 'Patient' || id === patient) return;
      throw new HavenError('forbidden', 'AUTH_PATIENT_COMPARTMENT', `A token with a patient context may search only its own patient's compartment (Patient/${patient}), not ${compartment}/${id}`, {
        expression: [compartment],
      });
    },
    /** Refuses (403) a resource outside the patient's compartment, without revealing whether it exists. */
    async requireInCompartment(ctx: RequestContext, type: string, id: string, patient: string): Promise<void> {
      if (type === 'Patient') {
        if (id === patient) return;
        throw outside(type);
      }
      const params = deps.paramsFor('Patient', type);
      if (params.length === 0) throw outside(type);
      const res = await deps.db.query(
        `SELECT 1 FROM idx_reference WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = $3
           AND param = ANY($4::text[]) AND target_type = 'Patient' AND target_id = $5 LIMIT 1`,
        [ctx.tenant, type, id, [...params], patient],
      );
      if (res.rowCount === 0) throw outside(type);
    },
    /**
     * Where a resource stands for a write under `patient/` scopes, by its index rows as
     * `q` sees them (committed ones by default; the write's transaction sees the new
     * version's): whether it is in `patient`'s compartment (the membership reads use) and
     * the other patients whose compartments its Patient-compartment references put it in
     * (for a Patient: its `link`s, which reads ignore but a write must not change).
     */
    async writeStanding(ctx: RequestContext, type: string, id: string, patient: string, q: Queryable = deps.db): Promise<{ inside: boolean; others: string[] }> {
      const params = deps.paramsFor('Patient', type);
      const targets = params.length === 0 ? [] : (await q.query<{ target_id: string }>(
        `SELECT DISTINCT target_id FROM idx_reference WHERE tenant_id = $1 AND resource_type = $2 AND resource_id = $3
           AND param = ANY($4::text[]) AND target_type = 'Patient'`,
        [ctx.tenant, type, id, [...params]],
      )).rows.map((r) => r.target_id);
      const self = type === 'Patient' ? id : undefined;
      return {
        inside: type === 'Patient' ? id === patient : targets.includes(patient),
        others: targets.filter((t) => t !== patient && t !== self).sort(),
      };
    },
    /** The 403 of a read outside the compartment, the same whether or not the resource exists. */
    outside,
    /** The 403 for content written under `patient/` scopes outside the rules: about what the client sent, so it discloses nothing stored. */
    refuseWrite(type: string, why: string): HavenError {
      const params = type === 'Patient' ? [] : deps.paramsFor('Patient', type);
      const how = params.length > 0 ? ` (${type}'s Patient-compartment references: ${params.join(', ')})` : '';
      return new HavenError('forbidden', 'AUTH_PATIENT_COMPARTMENT', `A write under patient/ scopes ${why}${how}`, { expression: [type] });
    },
    /** Refuses (403) a resource not matching the granular scopes' criteria, without revealing whether it exists. */
    async requireMatch(ctx: RequestContext, type: string, id: string, filters: ScopeFilters, interaction: Interaction): Promise<void> {
      const found = deps.matcher ? await deps.matcher(ctx, type, [id], filters) : new Set<string>();
      if (!found.has(id)) throw insufficient(type, interaction, ' on this resource (granular scope criteria)');
    },
    /** Of `ids`, those matching the criteria (none without a matcher: fail closed). */
    async matching(ctx: RequestContext, type: string, ids: readonly string[], filters: ScopeFilters): Promise<Set<string>> {
      return deps.matcher ? deps.matcher(ctx, type, ids, filters) : new Set<string>();
    },
  };
}

export type CompartmentGuard = ReturnType<typeof createCompartmentGuard>;

function outside(type: string): HavenError {
  return new HavenError('forbidden', 'AUTH_PATIENT_COMPARTMENT', `The resource is not in the patient compartment of this token (${type})`, {
    expression: [type],
  });
}
