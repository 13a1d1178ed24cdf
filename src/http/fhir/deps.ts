import type { Issue, RequestContext } from '../../kernel/index.js';
import type { FhirResource, ResourceStore, StoreTransaction, ResourceReader, SearchResultPage } from '../../store/index.js';

export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';

/** Result of running a search (one page): defined by the store's search runner. */
export type SearchPage = SearchResultPage;

export interface SearchRunner {
  /** Parses, compiles and runs a search of `resourceType` with the given parameters. */
  search(
    ctx: RequestContext,
    reader: ResourceReader,
    resourceType: string,
    params: [string, string][],
    options: { strict: boolean },
  ): Promise<SearchPage>;
}

/** What the FHIR interactions need; built by the composition root (src/app). */
export interface FhirDeps {
  store: ResourceStore;
  fhir: {
    isResourceType(type: string): boolean;
    applySummary(resource: FhirResource, mode: 'true' | 'text' | 'data'): FhirResource;
    applyElements(resource: FhirResource, elements: string[]): FhirResource;
  };
  validate(resource: unknown): Issue[];
  searcher: SearchRunner;
  /** Throws forbidden when the caller's scopes do not allow the interaction. */
  authorize(ctx: RequestContext, resourceType: string, interaction: Interaction): void;
  /** Whether the caller may use system-wide (all types) interactions. */
  authorizeSystem(ctx: RequestContext, interaction: 'read' | 'search'): void;
  limits: { maxBundleEntries: number; validateOnWrite: boolean };
}

export type { StoreTransaction };
