import { createCompartments } from './compartments.js';
import type { Compartments } from './compartments.js';
import { loadCoreDefinitions } from './definitions.js';
import type { CoreDefinitions, LoadOptions } from './definitions.js';
import { createIndexer } from './extract.js';
import type { Indexer } from './extract.js';
import { createSearchParamRegistry } from './search-registry.js';
import type { HavenSearchParamRegistry, RegistryOptions } from './search-registry.js';
import { createSummaryHelpers } from './summary.js';
import type { SummaryHelpers } from './summary.js';

export type * from './index-values.js';
export type { CoreDefinitions, ElementInfo, TypeElements, CompartmentTable, LoadOptions } from './definitions.js';
export { loadCoreDefinitions, buildCoreDefinitions } from './definitions.js';
export { corePackageDir, readCoreResources } from './core-package.js';
export { createSearchParamRegistry, parseSearchParameter } from './search-registry.js';
export type { HavenSearchParamRegistry, RegistryOptions } from './search-registry.js';
export { checkCustomSearchParameter, isActiveSearchParameter } from './custom-search-param.js';
export { createIndexer } from './extract.js';
export type { Indexer, IndexerOptions } from './extract.js';
export { normalizeString } from './normalize.js';
export { CARE_DATE_PARAMS } from './care-dates.js';
export { applyFhirPathPatch } from './fhirpath-patch.js';
export type { ElementsOf } from './fhirpath-patch.js';
export { dateRange, periodRange } from './date-range.js';
export type { DateRange } from './date-range.js';
export { numberRange } from './number-range.js';
export type { NumberRange } from './number-range.js';
export { parseReference, referenceTargetType } from './reference.js';
export { createSummaryHelpers, SUBSETTED_TAG } from './summary.js';
export type { SummaryHelpers, SummaryMode } from './summary.js';
export { operationOutcome, HAVEN_ERROR_CODE_SYSTEM } from './operation-outcome.js';
export type { OperationOutcome, OperationOutcomeIssue } from './operation-outcome.js';
export { createCompartments } from './compartments.js';
export type { Compartments } from './compartments.js';
export { expressionForType, splitUnion } from './expression-split.js';

export interface FhirDefinitions extends SummaryHelpers {
  fhirVersion: string;
  resourceTypes: ReadonlySet<string>;
  isResourceType(type: string): boolean;
  registry: HavenSearchParamRegistry;
  indexer: Indexer;
  compartments: Compartments;
  /** The derived core data (elements per type) for validation and other consumers. */
  core: CoreDefinitions;
}

/**
 * Everything the server needs from the R4 core package, built once by the
 * composition root and passed down (no module-level singleton).
 */
export function createFhirDefinitions(options: LoadOptions & RegistryOptions = {}): FhirDefinitions {
  const core = loadCoreDefinitions(options);
  const resourceTypes = new Set(core.resourceTypes);
  const registry = createSearchParamRegistry(core, options.ownRows ? { ownRows: options.ownRows } : {});
  const summary = createSummaryHelpers(core.elements);
  return {
    fhirVersion: core.fhirVersion,
    resourceTypes,
    isResourceType: (type) => resourceTypes.has(type),
    registry,
    indexer: createIndexer(registry),
    compartments: createCompartments(core.compartments),
    applySummary: summary.applySummary,
    applyElements: summary.applyElements,
    core,
  };
}
