import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { systemClock, type RequestContext } from '../../src/kernel/index.js';
import type { IndexValue } from '../../src/fhir/index-values.js';
import { taggerFor, type BlindIndexer } from '../../src/crypto/blind-index.js';
import { DEFAULT_PROTECTED, parseProtectedParams } from '../../src/search/protected-params.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type FhirResource, type ResourceStore } from '../../src/store/index.js';
import { createTestDb, type TestDb } from '../support/db.js';

// An update writes only the index rows that changed (src/store/index-sql.ts, syncRows): its rows must
// always equal those a fresh write of the same body produces, and rows it keeps must not be rewritten.

const ctx = { tenant: 'default' } as RequestContext;
const TABLES = ['idx_string', 'idx_token', 'idx_date', 'idx_reference', 'idx_number', 'idx_quantity', 'idx_uri'];

interface TestPatient extends FhirResource {
  name?: { family?: string; given?: string[] }[];
  identifier?: { system: string; value: string }[];
  birthDate?: string;
  gp?: { id: string; mrn?: string }[];
  score?: string[];
  weight?: { value: string; unit: string }[];
  profile?: string[];
  note?: string[];
  combo?: { code: string; value: string }[];
}

/** Every index table, groups, blind-covered names (`name` under `family`/`given`) and protected identifiers. */
function extract(resource: FhirResource): IndexValue[] {
  const p = resource as TestPatient;
  const out: IndexValue[] = [];
  for (const n of p.name ?? []) {
    for (const [param, value] of [['family', n.family], ...(n.given ?? []).map((g) => ['given', g])] as [string, string | undefined][]) {
      if (value === undefined) continue;
      out.push({ type: 'string', param, value }, { type: 'string', param: 'name', value });
    }
  }
  for (const i of p.identifier ?? []) out.push({ type: 'token', param: 'identifier', system: i.system, code: i.value, text: null });
  if (p.birthDate) out.push({ type: 'date', param: 'birthdate', low: `${p.birthDate}T00:00:00.000Z`, high: `${p.birthDate}T23:59:59.999Z` });
  for (const g of p.gp ?? []) {
    out.push({ type: 'reference', param: 'general-practitioner', targetType: 'Practitioner', targetId: g.id, url: null, version: null, identifierSystem: g.mrn ? 'urn:mrn' : null, identifierValue: g.mrn ?? null });
  }
  for (const s of p.score ?? []) out.push({ type: 'number', param: 'probability', value: s, low: s, high: s });
  for (const w of p.weight ?? []) out.push({ type: 'quantity', param: 'value-quantity', value: w.value, low: w.value, high: w.value, system: 'http://unitsofmeasure.org', code: w.unit, unit: w.unit });
  for (const u of p.profile ?? []) out.push({ type: 'uri', param: '_profile', value: u });
  for (const n of p.note ?? []) out.push({ type: 'string', param: 'note', value: n });
  for (const [group, c] of (p.combo ?? []).entries()) {
    out.push({ type: 'token', param: 'combo$0', system: 'urn:c', code: c.code, text: null, group }, { type: 'token', param: 'combo$1', system: null, code: c.value, text: null, group });
  }
  return out;
}

const v1: TestPatient = {
  resourceType: 'Patient',
  name: [{ family: 'Smith', given: ['Anna', 'Maria'] }],
  identifier: [{ system: 'urn:mrn', value: 'M1' }, { system: 'urn:ssn', value: '123' }],
  birthDate: '1970-01-02',
  gp: [{ id: 'dr1', mrn: 'G1' }],
  score: ['1.0'],
  weight: [{ value: '70', unit: 'kg' }],
  profile: ['http://x/p1'],
  note: ['first', 'first'],
  combo: [{ code: 'a', value: '1' }, { code: 'b', value: '2' }],
};

/** Versions that change, remove and add values of every kind (including a value's scale and group order). */
const versions: TestPatient[] = [
  { ...v1, name: [{ family: 'Smyth', given: ['Anna', 'Ann'] }] },
  { ...v1, identifier: [{ system: 'urn:mrn', value: 'M1' }], birthDate: '1970-01-03', score: ['1.00'], note: [] },
  { ...v1, gp: [{ id: 'dr2' }, { id: 'dr1', mrn: 'G2' }], weight: [], profile: ['http://x/p1', 'http://x/p2'], combo: [{ code: 'b', value: '2' }, { code: 'a', value: '1' }] },
  { resourceType: 'Patient' },
  v1,
];

const blindIndexer = (key: Buffer): BlindIndexer => ({ withTagger: (_tenant, use) => Promise.resolve(use(taggerFor(key))) });

for (const blind of [false, true]) {
  describe(`an update writes only the index rows that changed (blind indexes ${blind ? 'on' : 'off'})`, () => {
    let t: TestDb;
    let store: ResourceStore;
    before(async () => {
      t = await createTestDb();
      const normalize = (s: string) => s.toLowerCase();
      const policy = parseProtectedParams(DEFAULT_PROTECTED.join(','));
      const indexWriter = createIndexWriter({ normalize, ...(blind ? { blind: { indexer: blindIndexer(randomBytes(32)), policy, normalize } } : {}) });
      store = createResourceStore({ db: t.db, codec: plaintextCodec, indexWriter, extract, clock: systemClock, hooks: emptyHooks() });
    });
    after(async () => t.drop());

    /** All index rows of one resource, without its id, sorted: comparable across resources. */
    async function rowsOf(id: string): Promise<string[]> {
      const all: string[] = [];
      for (const table of TABLES) {
        const res = await t.db.query<{ r: string }>(`SELECT '${table} ' || (to_jsonb(x) - 'resource_id')::text AS r FROM ${table} x WHERE resource_id = $1`, [id]);
        all.push(...res.rows.map((x) => x.r));
      }
      return all.sort();
    }

    /** Each row's physical identity: unchanged when a write leaves the row alone. */
    async function versionsOf(id: string): Promise<Map<string, string>> {
      const out = new Map<string, string>();
      for (const table of TABLES) {
        const res = await t.db.query<{ r: string; v: string }>(
          `SELECT '${table} ' || (to_jsonb(x) - 'resource_id')::text AS r, ctid::text || ' ' || xmin::text AS v FROM ${table} x WHERE resource_id = $1`,
          [id],
        );
        for (const row of res.rows) out.set(row.r, row.v);
      }
      return out;
    }

    const put = (id: string, body: FhirResource) => store.transaction(ctx, (tx) => tx.write(ctx, [{ kind: 'update', id, resource: { ...body, id } }]));

    /** The rows a fresh write of `body` produces (under a new id, in its own transaction). */
    async function freshRows(body: FhirResource): Promise<string[]> {
      const id = `fresh-${randomBytes(4).toString('hex')}`;
      await put(id, body);
      return rowsOf(id);
    }

    it('after updates that change, remove and add values, a resource has exactly the rows of a fresh write', async () => {
      await put('p1', v1);
      assert.deepEqual(await rowsOf('p1'), await freshRows(v1));
      assert.ok((await rowsOf('p1')).length > 15);
      for (const [i, body] of versions.entries()) {
        await put('p1', body);
        assert.deepEqual(await rowsOf('p1'), await freshRows(body), `version ${i + 2}`);
      }
    });

    it('keeps the rows an update repeats and rewrites only the changed ones', async () => {
      await put('p2', v1);
      const first = await versionsOf('p2');
      await put('p2', v1);
      assert.deepEqual(await versionsOf('p2'), first, 'an update with the same values touches no index row');
      await put('p2', { ...v1, birthDate: '1980-05-06' });
      const after = await versionsOf('p2');
      const changed = [...after].filter(([row, v]) => first.get(row) !== v).map(([row]) => row);
      assert.equal(changed.length, 1);
      assert.match(changed[0]!, /^idx_date /);
      assert.equal(after.size, first.size);
    });

    it('a deleted resource has no rows, and one created again has those of a fresh write', async () => {
      await put('p3', v1);
      await store.transaction(ctx, (tx) => tx.write(ctx, [{ kind: 'delete', resourceType: 'Patient', id: 'p3' }]));
      assert.deepEqual(await rowsOf('p3'), []);
      await put('p3', versions[0]!);
      assert.deepEqual(await rowsOf('p3'), await freshRows(versions[0]!));
    });

    it('a batch writing resources twice keeps the rows of their last versions', async () => {
      await put('p4', v1);
      await store.transaction(ctx, (tx) =>
        tx.write(ctx, [
          { kind: 'update', id: 'p4', resource: { ...versions[0]!, id: 'p4' } },
          { kind: 'update', id: 'p5', resource: { ...versions[1]!, id: 'p5' } },
          { kind: 'update', id: 'p4', resource: { ...versions[2]!, id: 'p4' } },
          { kind: 'update', id: 'p5', resource: { ...versions[2]!, id: 'p5' } },
        ]),
      );
      assert.deepEqual(await rowsOf('p4'), await freshRows(versions[2]!));
      assert.deepEqual(await rowsOf('p5'), await freshRows(versions[2]!));
      await store.transaction(ctx, (tx) =>
        tx.write(ctx, [
          { kind: 'update', id: 'p4', resource: { ...v1, id: 'p4' } },
          { kind: 'delete', resourceType: 'Patient', id: 'p4' },
          { kind: 'update', id: 'p5', resource: { ...v1, id: 'p5' } },
        ]),
      );
      assert.deepEqual(await rowsOf('p4'), []);
      assert.deepEqual(await rowsOf('p5'), await freshRows(v1));
    });

    it('concurrent updates of one resource leave the rows of the version that won', async () => {
      await put('p6', v1);
      // Each body distinct from every other (an update equal to the current version writes nothing): nine versions.
      await Promise.all([v1, ...versions, v1, versions[0]!].map((body, i) => put('p6', { ...body, multipleBirthInteger: i })));
      const current = await store.read(ctx, 'Patient', 'p6');
      assert.equal(current.versionId, 9);
      const { id: _id, meta: _meta, ...body } = JSON.parse(current.json!) as FhirResource;
      assert.deepEqual(await rowsOf('p6'), await freshRows(body as FhirResource));
    });
  });
}
