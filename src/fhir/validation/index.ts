import type { Issue } from '../../kernel/errors.js';
import { createPackageDefinitions, type DefinitionSource } from './definitions.js';
import { createInvariantEngine, type SkippedInvariant } from './invariants.js';
import { createModelCache, type ChildIndex } from './model.js';
import { createTerminology } from './terminology.js';
import { walkResource } from './walker.js';

export type { DefinitionSource } from './definitions.js';
export { createPackageDefinitions } from './definitions.js';
export type { SkippedInvariant } from './invariants.js';
export type { ChildIndex, ElementModel, TypeRef } from './model.js';
export { isPrimitive } from './primitives.js';

export interface Validator {
  /** Every problem found in `resource`, checked against its core StructureDefinition; [] when valid. */
  validate(resource: unknown): Issue[];
  /** Invariants that were not evaluated so far, with the reason (grows as types are first used). */
  skippedInvariants(): SkippedInvariant[];
  /**
   * The child elements (JSON key → element) of a type (`HumanName`, `Patient`) or of a
   * backbone element by its path (`Observation.component`); undefined for primitives and unknown names.
   */
  elementsOf(typeOrPath: string): ChildIndex | undefined;
  /** The codes of an R4 core value set (`system|code` pairs), or undefined when it is unknown or cannot be enumerated (filters, external systems). */
  expandValueSet(url: string): { pairs: ReadonlySet<string> } | undefined;
}

export interface ValidatorOptions {
  /** Defaults to HL7's R4 package (`hl7.fhir.r4.examples`). */
  definitions?: DefinitionSource;
}

/**
 * Builds a validator. Per-type models, value-set expansions and compiled
 * invariants are built on first use and cached in this instance.
 */
export function createValidator(options: ValidatorOptions = {}): Validator {
  const defs = options.definitions ?? createPackageDefinitions();
  const svc = {
    model: createModelCache(defs),
    codes: createTerminology(defs),
    invariants: createInvariantEngine(),
  };
  return {
    validate(resource) {
      const issues: Issue[] = [];
      walkResource(svc, issues, resource, '');
      return issues;
    },
    skippedInvariants: () => svc.invariants.skipped(),
    expandValueSet: (url) => svc.codes(url),
    elementsOf(typeOrPath) {
      const [type, ...steps] = typeOrPath.split('.');
      let element = svc.model(type!)?.root;
      for (const step of steps) element = element?.children?.get(step)?.element;
      return element?.children;
    },
  };
}
