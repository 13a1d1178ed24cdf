import type { CompartmentTable } from './definitions.js';

/** R4 compartments (Patient, Encounter, RelatedPerson, Practitioner, Device). */
export interface Compartments {
  /** Compartment types defined (e.g. 'Patient'). */
  types(): string[];
  /** Search parameters of `resourceType` that link it to a `compartment` (empty: not in the compartment). */
  paramsFor(compartment: string, resourceType: string): readonly string[];
  /** Resource types that can be in the compartment. */
  resourceTypesIn(compartment: string): string[];
}

const NONE: readonly string[] = Object.freeze([]);

export function createCompartments(table: CompartmentTable): Compartments {
  return {
    types: () => Object.keys(table).sort(),
    paramsFor: (compartment, resourceType) => table[compartment]?.[resourceType] ?? NONE,
    resourceTypesIn: (compartment) => Object.keys(table[compartment] ?? {}).sort(),
  };
}
