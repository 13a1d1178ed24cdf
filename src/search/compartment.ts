/**
 * Compartment search (`GET /fhir/Patient/123/Observation`): the resources of a
 * type that a compartment's CompartmentDefinition links to one compartment
 * resource, as one extra condition on the page statement. The linking
 * parameters are OR-ed inside a single index subquery (`param = ANY(…)`), so
 * PostgreSQL still drives it from idx_reference_lookup.
 */
import type { SqlParams } from './sql-params.js';

export interface CompartmentFilter {
  /** Compartment type: Patient, Encounter, RelatedPerson, Practitioner or Device. */
  compartment: string;
  /** Id of the compartment resource. */
  id: string;
  /** Reference parameters of the searched type that link it to the compartment (from the CompartmentDefinition). */
  params: readonly string[];
}

/**
 * SQL condition on `resource r` (tenant `$1`, type `$2`). The compartment
 * resource itself belongs to its own compartment (Patient/123/Patient finds
 * Patient/123), as in R5 and in HAPI and Blaze.
 */
export function compartmentCondition(f: CompartmentFilter, searchedType: string, p: SqlParams): string {
  const selects: string[] = [];
  if (f.params.length > 0) {
    selects.push(
      `SELECT i.resource_id FROM idx_reference i WHERE i.tenant_id = $1 AND i.resource_type = $2 AND i.param = ANY(${p.add([...f.params], 'text[]')}) AND i.target_id = ${p.add(f.id)} AND i.target_type = ${p.add(f.compartment)}`,
    );
  }
  // A UNION inside IN (not `OR r.id = …`) keeps the semi-join plan instead of a filter over every row.
  if (searchedType === f.compartment) selects.push(`SELECT ${p.add(f.id)}::text`);
  return selects.length === 0 ? 'FALSE' : `r.id IN (${selects.join(' UNION ALL ')})`;
}

/**
 * All the data a caller may see, when that is one compartment (a token with a
 * patient context and `patient/` scopes): the compartment resource itself and,
 * of every other type, the resources one of `members`' parameters links to it.
 * Chains, `_has`, `_list` and includes reach only resources inside it, so
 * neither a match nor an included resource can disclose data outside.
 */
export interface CompartmentLimit {
  compartment: string;
  id: string;
  /** Member types (other than the compartment's own) and the reference parameters linking each. */
  members: ReadonlyMap<string, readonly string[]>;
}

/**
 * Ids of the `type` resources inside the limit, as one SELECT (`typeRef` is the
 * type's placeholder, `alias` an alias free at this nesting level). The
 * compartment's own type has one member: the compartment resource.
 */
export function limitIdSet(limit: CompartmentLimit, type: string, typeRef: string, p: SqlParams, alias: string): string {
  if (type === limit.compartment) return `SELECT ${p.add(limit.id)}::text`;
  const params = limit.members.get(type) ?? [];
  if (params.length === 0) return 'SELECT NULL::text WHERE FALSE';
  return `SELECT ${alias}.resource_id FROM idx_reference ${alias} WHERE ${alias}.tenant_id = $1 AND ${alias}.resource_type = ${typeRef} AND ${alias}.param = ANY(${p.add([...params], 'text[]')}) AND ${alias}.target_type = ${p.add(limit.compartment)} AND ${alias}.target_id = ${p.add(limit.id)}`;
}

/** Keys `Type param` of the member links, for conditions over rows of any type (includes). */
function memberKeys(limit: CompartmentLimit): string[] {
  return [...limit.members].flatMap(([type, params]) => params.map((param) => `${type} ${param}`));
}

/** Condition on a resource row `r` of any type: it lies inside the limit. */
export function limitRowCondition(limit: CompartmentLimit, p: SqlParams): string {
  const compartment = p.add(limit.compartment);
  const id = p.add(limit.id);
  return `((r.resource_type = ${compartment} AND r.id = ${id}) OR EXISTS (SELECT 1 FROM idx_reference w WHERE w.tenant_id = r.tenant_id AND w.resource_type = r.resource_type AND w.resource_id = r.id AND w.target_type = ${compartment} AND w.target_id = ${id} AND w.resource_type || ' ' || w.param = ANY(${p.add(memberKeys(limit), 'text[]')})))`;
}
