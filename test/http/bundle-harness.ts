// Shared harness of the Bundle processor tests: a real store on a throwaway database.
import assert from 'node:assert/strict';
import { createValidator } from '../../src/fhir/validation/index.js';
import { DEFAULT_TENANT, HavenError, systemClock, type Issue, type RequestContext } from '../../src/kernel/index.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type FhirResource, type ResourceStore } from '../../src/store/index.js';
import { createBundleProcessor, type BundleProcessor } from '../../src/http/fhir/bundle.js';
import type { FhirDeps, SearchRunner } from '../../src/http/fhir/deps.js';
import { createFhirRouter } from '../../src/http/fhir/router.js';
import type { FhirRequest } from '../../src/http/fhir/types.js';
import { createTestDb, type TestDb } from '../support/db.js';

export const BASE = 'http://haven.test/fhir';
export const ctx: RequestContext = { tenant: DEFAULT_TENANT, principal: { subject: 't', clientId: 't', kind: 'system', scopes: [] }, requestId: 'req-1' };
export const TYPES = new Set(['Patient', 'Observation', 'Encounter', 'Binary']);

/**
 * TEST-ONLY searcher: supports just `identifier=system|value`, by matching the
 * stored JSON in SQL. The real search engine lives in src/search.
 */
export const identifierSearcher: SearchRunner = {
  async search(c, reader, type, params) {
    const raw = params.find(([k]) => k === 'identifier')?.[1];
    if (raw === undefined) throw new HavenError('incorrect', 'TEST_SEARCH_UNSUPPORTED', 'test searcher: identifier only');
    const [system, value] = raw.includes('|') ? raw.split('|') : [undefined, raw];
    const want = JSON.stringify([{ ...(system ? { system } : {}), value }]);
    const entries = await reader.query(c, {
      sql: `SELECT resource_type, id, version_id, last_updated, deleted, content FROM resource
            WHERE tenant_id = $1 AND resource_type = $2 AND NOT deleted
              AND convert_from(content, 'UTF8')::jsonb -> 'identifier' @> $3::jsonb ORDER BY id LIMIT 2`,
      params: [c.tenant, type, want],
    });
    return { entries, hasMore: false, offset: 0, count: entries.length, unknown: [], applied: params, countOnly: false };
  },
};

export interface Harness {
  t: TestDb;
  store: ResourceStore;
  deps: FhirDeps;
  bundle: BundleProcessor;
}

/** Element definitions only (FHIRPath Patch); validation stays the option's. */
const definitions = createValidator();

export async function harness(options: { validate?: (r: unknown) => Issue[]; maxBundleEntries?: number } = {}): Promise<Harness> {
  const t = await createTestDb();
  const store = createResourceStore({
    db: t.db,
    codec: plaintextCodec,
    indexWriter: createIndexWriter({ normalize: (s) => s.toLowerCase() }),
    extract: () => [],
    clock: systemClock,
    hooks: emptyHooks(),
  });
  const deps: FhirDeps = {
    store,
    fhir: { isResourceType: (x) => TYPES.has(x), applySummary: (r) => r, applyElements: (r) => r },
    validate: options.validate ?? (() => []),
    elementsOf: (p) => definitions.elementsOf(p),
    searcher: identifierSearcher,
    authorize: () => undefined,
    authorizeSystem: () => undefined,
    limits: { maxBundleEntries: options.maxBundleEntries ?? 60, validateOnWrite: true },
  };
  const router = createFhirRouter(deps, {
    defaultPageSize: 20,
    maxPageSize: 100,
    system: { bundle: (c, r) => bundle(c, r), metadata: () => ({ status: 200, headers: {} }) },
  });
  const bundle = createBundleProcessor(deps, router);
  return { t, store, deps, bundle };
}

export function post(body: unknown, prefer?: string): FhirRequest {
  return { method: 'POST', path: [], query: [], headers: prefer ? { prefer } : {}, body, baseUrl: BASE };
}

export function tx(entry: unknown[], type = 'transaction') {
  return { resourceType: 'Bundle', type, entry };
}

export interface Out {
  type: string;
  entry?: { fullUrl?: string; resource?: FhirResource & Record<string, unknown>; response: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: { issue: { expression?: string[]; details?: unknown }[] } } }[];
}

export async function run(h: Harness, body: unknown, prefer?: string): Promise<Out> {
  const res = await h.bundle(ctx, post(body, prefer));
  assert.equal(res.status, 200);
  return JSON.parse(res.body as string) as Out;
}

export async function rows(h: Harness): Promise<{ current: number; versions: number }> {
  const c = await h.t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource');
  const v = await h.t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource_version');
  return { current: Number(c.rows[0]!.n), versions: Number(v.rows[0]!.n) };
}

export const idOf = (location: string | undefined) => location!.slice(BASE.length + 1).split('/')[1]!;
