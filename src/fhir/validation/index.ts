import type { Issue } from '../../kernel/errors.js';
import { createPackageDefinitions, type DefinitionSource } from './definitions.js';
import { createInvariantEngine, type SkippedInvariant } from './invariants.js';
import { createModelCache } from './model.js';
import { createTerminology } from './terminology.js';
import { walkResource } from './walker.js';

export type { DefinitionSource } from './definitions.js';
export { createPackageDefinitions } from './definitions.js';
export type { SkippedInvariant } from './invariants.js';

export interface Validator {
  /** Every problem found in `resource`, checked against its core StructureDefinition; [] when valid. */
  validate(resource: unknown): Issue[];
  /** Invariants that were not evaluated so far, with the reason (grows as types are first used). */
  skippedInvariants(): SkippedInvariant[];
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
  };
}
