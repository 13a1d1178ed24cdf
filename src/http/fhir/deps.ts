import type { Issue, RequestContext } from '../../kernel/index.js';
import type { FhirResource, ResourceStore, StoreTransaction, ResourceReader, StoredResource } from '../../store/index.js';

export type Interaction = 'create' | 'read' | 'update' | 'delete' | 'search';

/** Result of running a search (one page). */
export interface SearchPage {
  entries: StoredResource[];
  /** Total when asked for (_total=accurate|estimate). */
  total?: number;
  hasMore: boolean;
  offset: number;
  count: number;
  /** Parameters ignored because unknown or unsupported. */
  unknown: string[];
  /** The parameters that were applied, for the self link. */
  applied: [string, string][];
  /** Only a count was asked for (_summary=count or _count=0). */
  countOnly: boolean;
}

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
