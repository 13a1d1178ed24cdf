import { SYSTEMS } from './vocab.js';
import type { Concept } from './vocab.js';

/**
 * The few FHIR R4 shapes the generator builds. Kept local and minimal: the
 * generator only writes resources, it never needs the full R4 type model.
 */

export interface Coding {
  system: string;
  code: string;
  display?: string;
}

export interface CodeableConcept {
  coding: Coding[];
  text?: string;
}

export interface Reference {
  reference: string;
}

export interface Quantity {
  value: number;
  unit: string;
  system: string;
  code: string;
}

export interface FhirResource {
  resourceType: string;
  id: string;
  [element: string]: unknown;
}

export interface BundleEntry {
  resource: FhirResource;
  request: { method: 'PUT'; url: string };
}

export interface Bundle {
  resourceType: 'Bundle';
  type: 'transaction';
  entry: BundleEntry[];
}

export function coding(system: string, concept: Concept): Coding {
  return { system, code: concept.code, display: concept.display };
}

export function concept(system: string, value: Concept): CodeableConcept {
  return { coding: [coding(system, value)], text: value.display };
}

export function ref(resource: FhirResource): Reference {
  return { reference: `${resource.resourceType}/${resource.id}` };
}

export function quantity(value: number, ucum: string): Quantity {
  return { value, unit: ucum, system: SYSTEMS.ucum, code: ucum };
}

/**
 * Every generated resource carries the HL7 security label HTEST ("test health
 * data") so that synthetic records can never be mistaken for real PHI, and can
 * be found and purged with `_security=...|HTEST`.
 */
export function synthMeta(): { security: Coding[] } {
  return { security: [{ system: SYSTEMS.actReason, code: 'HTEST', display: 'test health data' }] };
}
