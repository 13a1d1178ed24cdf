import type { Issue, RequestContext } from '../../kernel/index.js';
import type { FhirResource, ResourceStore, StoreTransaction, ResourceReader, SearchResultPage, CompartmentScope } from '../../store/index.js';
import type { Compartments, ElementsOf } from '../../fhir/index.js';
import type { CompartmentLimit } from '../../search/index.js';

export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';

/** Result of running a search (one page): defined by the store's search runner. */
export type SearchPage = SearchResultPage;

export interface SearchOptions {
  strict: boolean;
  /** Compartment search (`Patient/123/Observation`). */
  compartment?: CompartmentScope;
  /** A second compartment every match must also lie in (set by the auth guard for patient-context tokens searching another compartment). */
  alsoIn?: CompartmentScope;
  /** Types the caller may read, for `_include`/`_revinclude` ('*' or absent: all). */
  readable?: readonly string[] | '*';
  /** Called with the types a chain, `_has` or `_list` reads besides the searched type; throws when not allowed. */
  authorizeLinked?: (types: readonly string[]) => void;
  /** Access-policy criteria (OR of AND groups), compiled into the page SQL. */
  restrict?: ReadonlyArray<ReadonlyArray<readonly [string, string]>>;
  /** Patient-context tokens: linked and included resources only inside this compartment (set by the auth guard). */
  within?: CompartmentLimit;
}

export interface SearchRunner {
  /** Parses, compiles and runs a search of `resourceType` with the given parameters. */
  search(ctx: RequestContext, reader: ResourceReader, resourceType: string, params: [string, string][], options: SearchOptions): Promise<SearchPage>;
  /** System-level search across `types` (absent: not offered). */
  searchSystem?(ctx: RequestContext, reader: ResourceReader, types: readonly string[], params: [string, string][], options: SearchOptions): Promise<SearchPage>;
}

/** What the FHIR interactions need; built by the composition root (src/app). */
export interface FhirDeps {
  store: ResourceStore;
  fhir: {
    isResourceType(type: string): boolean;
    applySummary(resource: FhirResource, mode: 'true' | 'text' | 'data'): FhirResource;
    applyElements(resource: FhirResource, elements: string[]): FhirResource;
    /** All resource types (system-level search, include scopes); absent in minimal test wiring. */
    resourceTypes?: ReadonlySet<string>;
    /** R4 CompartmentDefinitions (compartment search). */
    compartments?: Compartments;
  };
  validate(resource: unknown): Issue[];
  /** Child elements of a type or backbone path (FHIRPath Patch decides lists and choice types by them). */
  elementsOf: ElementsOf;
  searcher: SearchRunner;
  /** Throws forbidden when the caller's scopes do not allow the interaction. */
  authorize(ctx: RequestContext, resourceType: string, interaction: Interaction): void;
  /** Whether the caller may use system-wide (all types) interactions. */
  authorizeSystem(ctx: RequestContext, interaction: 'read' | 'search'): void;
  limits: { maxBundleEntries: number; validateOnWrite: boolean };
}

export type { StoreTransaction };
