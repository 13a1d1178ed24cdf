import { createFhirDefinitions, normalizeString, readCoreResources } from '../../src/fhir/index.js';
import type { FhirDefinitions } from '../../src/fhir/index.js';
import { systemClock } from '../../src/kernel/index.js';
import type { RequestContext, TenantId } from '../../src/kernel/index.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec } from '../../src/store/index.js';
import type { Db, FhirResource, ResourceStore, StoredResource } from '../../src/store/index.js';
import { createSearchRunner } from '../../src/store/search-runner.js';
import type { SearchResultPage, SearchRunOptions } from '../../src/store/search-runner.js';
import { createTestDb, type TestDb } from '../support/db.js';

/**
 * HL7's R4 examples of the types below (the standalone example files of
 * hl7.fhir.r4.examples) plus the own resources of `extra`, written through
 * the real store (extraction + index writer), searched with the real runner.
 * Every statement the store sends is counted, and every resource that passes
 * the afterRead hooks (the audit hook point) is recorded.
 */
export const EXAMPLE_TYPES = [
  'Patient', 'Practitioner', 'Organization', 'Observation', 'Encounter', 'Group', 'Questionnaire',
  'QuestionnaireResponse', 'Specimen', 'RelatedPerson', 'Device', 'Condition', 'Procedure',
];

export interface Loaded {
  t: TestDb;
  fhir: FhirDefinitions;
  store: ResourceStore;
  statements: { count: number };
  readHook: string[];
  search(type: string, query: string, opts?: Partial<SearchRunOptions>): Promise<SearchResultPage>;
  system(types: string[], query: string, opts?: Partial<SearchRunOptions>): Promise<SearchResultPage>;
  close(): Promise<void>;
}

export const ctx: RequestContext = {
  tenant: 'default' as TenantId,
  requestId: 'test',
  principal: { subject: 'test', clientId: 'test', kind: 'system', scopes: ['system/*.cruds'] },
};

function counting(db: Db, statements: { count: number }): Db {
  return {
    ...db,
    query: (sql, params) => {
      statements.count++;
      return db.query(sql, params);
    },
  };
}

export async function loadExamples(extra: FhirResource[] = [], types = EXAMPLE_TYPES, maxIncludes?: number): Promise<Loaded> {
  const t = await createTestDb();
  const fhir = createFhirDefinitions();
  const statements = { count: 0 };
  const readHook: string[] = [];
  const hooks = emptyHooks();
  hooks.afterRead.push((_c, found) => {
    for (const r of found) readHook.push(`${r.resourceType}/${r.id}`);
  });
  const store = createResourceStore({
    db: counting(t.db, statements),
    codec: plaintextCodec,
    indexWriter: createIndexWriter({ normalize: normalizeString }),
    extract: (r) => fhir.indexer.extract(r),
    clock: systemClock,
    hooks,
  });
  const resources = [...types.flatMap((type) => readCoreResources<FhirResource>(type)), ...extra];
  await store.transaction(ctx, (tx) => tx.write(ctx, resources.map((r) => ({ kind: 'update' as const, resource: r, id: r.id! }))));
  const runner = createSearchRunner({ registry: fhir.registry, normalize: normalizeString, defaultCount: 100, maxCount: 1000, isResourceType: (x) => fhir.isResourceType(x), ...(maxIncludes ? { maxIncludes } : {}) });
  const params = (q: string) => [...new URLSearchParams(q)] as [string, string][];
  return {
    t,
    fhir,
    store,
    statements,
    readHook,
    search: (type, q, opts = {}) => runner.search(ctx, store, type, params(q), { strict: true, ...opts }),
    system: (types, q, opts = {}) => runner.searchSystem(ctx, store, types, params(q), { strict: true, ...opts }),
    close: () => t.drop(),
  };
}

export const ids = (rs: readonly StoredResource[] | undefined) => (rs ?? []).map((r) => `${r.resourceType}/${r.id}`).sort();
