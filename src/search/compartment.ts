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
