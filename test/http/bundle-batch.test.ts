import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TENANT, HavenError, systemClock, type Issue, type RequestContext } from '../../src/kernel/index.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type FhirResource, type ResourceStore } from '../../src/store/index.js';
import { createBundleProcessor, type BundleProcessor } from '../../src/http/fhir/bundle.js';
import type { FhirDeps, SearchRunner } from '../../src/http/fhir/deps.js';
import { createFhirRouter } from '../../src/http/fhir/router.js';
import type { FhirRequest } from '../../src/http/fhir/types.js';
import { createTestDb, type TestDb } from '../support/db.js';

const BASE = 'http://haven.test/fhir';
const ctx: RequestContext = { tenant: DEFAULT_TENANT, principal: { subject: 't', clientId: 't', kind: 'system', scopes: [] }, requestId: 'req-1' };
const TYPES = new Set(['Patient', 'Observation', 'Encounter', 'Binary']);

/**
 * TEST-ONLY searcher: supports just `identifier=system|value`, by matching the
 * stored JSON in SQL. The real search engine lives in src/search.
 */
const identifierSearcher: SearchRunner = {
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

interface Harness {
  t: TestDb;
  store: ResourceStore;
  deps: FhirDeps;
  bundle: BundleProcessor;
}

async function harness(options: { validate?: (r: unknown) => Issue[]; maxBundleEntries?: number } = {}): Promise<Harness> {
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

function post(body: unknown, prefer?: string): FhirRequest {
  return { method: 'POST', path: [], query: [], headers: prefer ? { prefer } : {}, body, baseUrl: BASE };
}

function tx(entry: unknown[], type = 'transaction') {
  return { resourceType: 'Bundle', type, entry };
}

interface Out {
  type: string;
  entry?: { fullUrl?: string; resource?: FhirResource & Record<string, unknown>; response: { status: string; location?: string; etag?: string; lastModified?: string; outcome?: { issue: { expression?: string[]; details?: unknown }[] } } }[];
}

async function run(h: Harness, body: unknown, prefer?: string): Promise<Out> {
  const res = await h.bundle(ctx, post(body, prefer));
  assert.equal(res.status, 200);
  return JSON.parse(res.body as string) as Out;
}

async function rows(h: Harness): Promise<{ current: number; versions: number }> {
  const c = await h.t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource');
  const v = await h.t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource_version');
  return { current: Number(c.rows[0]!.n), versions: Number(v.rows[0]!.n) };
}

const idOf = (location: string | undefined) => location!.slice(BASE.length + 1).split('/')[1]!;
const patient = (id?: string): FhirResource => ({ resourceType: 'Patient', ...(id ? { id } : {}) });
const isCode = (code: string, expression?: string) => (e: unknown) => {
  assert.ok(e instanceof HavenError, String(e));
  assert.equal(e.code, code);
  if (expression) assert.ok(e.issues[0]!.expression?.includes(expression), JSON.stringify(e.issues));
  return true;
};

describe('batch bundles', () => {
  let h: Harness;
  before(async () => (h = await harness({ maxBundleEntries: 5 })));
  after(async () => h.t.drop());

  it('answers every entry on its own: failures do not undo the others', async () => {
    await h.store.write(ctx, { kind: 'update', id: 'b-keep', resource: patient('b-keep') });
    const out = await run(h, tx([
      { resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { resource: patient('not-x'), request: { method: 'PUT', url: 'Patient/x' } },
      { request: { method: 'DELETE' } },
      { resource: patient('b-keep'), request: { method: 'PUT', url: 'Patient/b-keep', ifMatch: 'W/"7"' } },
      { resource: patient('b-new'), request: { method: 'PUT', url: `${BASE}/Patient/b-new` } },
    ], 'batch'));
    assert.equal(out.type, 'batch-response');
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['201 Created', '400 Bad Request', '400 Bad Request', '412 Precondition Failed', '201 Created']);
    assert.deepEqual(out.entry![2]!.response.outcome!.issue[0]!.expression, ['Bundle.entry[2].request']);
    assert.equal(out.entry![1]!.resource, undefined);
    await h.store.read(ctx, 'Patient', idOf(out.entry![0]!.response.location));
    await h.store.read(ctx, 'Patient', 'b-new');
    assert.equal((await h.store.read(ctx, 'Patient', 'b-keep')).versionId, 1, 'the failed conditional update wrote nothing');
  });

  it('runs GET, PATCH and DELETE entries, including ones that fail', async () => {
    await h.store.write(ctx, { kind: 'update', id: 'b-get', resource: patient('b-get') });
    const patch = Buffer.from(JSON.stringify([{ op: 'add', path: '/active', value: false }])).toString('base64');
    const out = await run(h, tx([
      { request: { method: 'GET', url: 'Patient/b-get' } },
      { request: { method: 'GET', url: 'Patient/b-missing' } },
      { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patch }, request: { method: 'PATCH', url: 'Patient/b-get' } },
      { request: { method: 'DELETE', url: 'Patient/b-never' } },
      { request: { method: 'GET', url: 'Unknown/1' } },
    ], 'batch'));
    assert.deepEqual(out.entry!.map((e) => e.response.status), ['200 OK', '404 Not Found', '200 OK', '204 No Content', '404 Not Found']);
    assert.equal(out.entry![0]!.resource!.id, 'b-get');
    assert.equal(out.entry![0]!.resource!.active, false, 'PATCH (PUT/PATCH phase) ran before GET');
  });

  it('leaves urn:uuid references alone (no interdependencies in a batch)', async () => {
    const out = await run(h, tx([
      { fullUrl: 'urn:uuid:44444444-0000-4000-8000-000000000001', resource: patient(), request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'final', subject: { reference: 'urn:uuid:44444444-0000-4000-8000-000000000001' } }, request: { method: 'POST', url: 'Observation' } },
    ], 'batch'));
    assert.deepEqual(out.entry![1]!.resource!.subject, { reference: 'urn:uuid:44444444-0000-4000-8000-000000000001' });
  });
});

describe('bundle envelope', () => {
  let h: Harness;
  before(async () => (h = await harness({ maxBundleEntries: 2 })));
  after(async () => h.t.drop());

  it('refuses other Bundle types and non-Bundles', async () => {
    await assert.rejects(h.bundle(ctx, post(tx([], 'collection'))), isCode('BUNDLE_TYPE_UNSUPPORTED'));
    await assert.rejects(h.bundle(ctx, post(patient())), isCode('BODY_NOT_BUNDLE'));
    await assert.rejects(h.bundle(ctx, post({ resourceType: 'Bundle', type: 'batch', entry: {} })), isCode('BUNDLE_BAD_ENTRY'));
  });

  it('refuses more entries than the limit (413) before touching the database', async () => {
    const entry = { resource: patient(), request: { method: 'POST', url: 'Patient' } };
    await assert.rejects(h.bundle(ctx, post(tx([entry, entry, entry]))), (e: unknown) => isCode('BUNDLE_TOO_MANY_ENTRIES')(e) && (e as HavenError).category === 'too-large');
    assert.deepEqual(await rows(h), { current: 0, versions: 0 });
  });

  it('fails a transaction on an entry without request.method/url, or with a foreign URL', async () => {
    const good = { resource: patient(), request: { method: 'POST', url: 'Patient' } };
    await assert.rejects(h.bundle(ctx, post(tx([good, { resource: patient() }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[1].request'));
    await assert.rejects(h.bundle(ctx, post(tx([good, { request: { method: 'GET' } }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[1].request'));
    await assert.rejects(h.bundle(ctx, post(tx([{ request: { method: 'GET', url: 'http://elsewhere.test/fhir/Patient/1' } }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[0].request.url'));
    await assert.rejects(h.bundle(ctx, post(tx([{ request: { method: 'POST', url: '/' }, resource: tx([]) }]))), isCode('BUNDLE_BAD_ENTRY', 'Bundle.entry[0].request'));
    assert.deepEqual(await rows(h), { current: 0, versions: 0 });
  });

  it('answers an empty transaction with an empty transaction-response', async () => {
    const out = await run(h, tx([]));
    assert.equal(out.type, 'transaction-response');
    assert.equal(out.entry, undefined);
  });
});
