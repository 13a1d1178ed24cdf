import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, type RequestContext } from '../../src/kernel/index.js';
import type { IndexValue } from '../../src/fhir/index-values.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type Db, type FhirResource, type ResourceStore } from '../../src/store/index.js';
import { createTestDb, type TestDb } from '../support/db.js';

const ctx = { tenant: 'default' } as RequestContext;

/** Index values straight from the test resources: family (string) and identifier (token). */
function extract(r: FhirResource): IndexValue[] {
  const p = r as FhirResource & { name?: { family: string }[]; identifier?: { system: string; value: string }[] };
  return [
    ...(p.name ?? []).map((n): IndexValue => ({ type: 'string', param: 'family', value: n.family })),
    ...(p.identifier ?? []).map((i): IndexValue => ({ type: 'token', param: 'identifier', system: i.system, code: i.value, text: null })),
  ];
}

const patient = (id: string, family: string, value: string): FhirResource => ({ resourceType: 'Patient', id, name: [{ family }], identifier: [{ system: 'urn:s', value }] });

/** Counts the statements sent inside transactions, BEGIN and COMMIT included. */
function counting(db: Db): { db: Db; count: () => number } {
  let n = 0;
  const wrapped: Db = Object.assign(Object.create(db) as Db, {
    transaction: <T>(work: (tx: Parameters<Parameters<Db['transaction']>[0]>[0]) => Promise<T>) =>
      db.transaction((tx) => {
        n += 2;
        return work({ query: (sql, params) => ((n += 1), tx.query(sql, params)) });
      }),
  });
  return { db: wrapped, count: () => n };
}

describe('the write path sends a fixed number of statements', () => {
  let t: TestDb;
  let store: ResourceStore;
  let counter: ReturnType<typeof counting>;
  before(async () => {
    t = await createTestDb();
    counter = counting(t.db);
    store = createResourceStore({ db: counter.db, codec: plaintextCodec, indexWriter: createIndexWriter({ normalize: (s) => s.toLowerCase() }), extract, clock: systemClock, hooks: emptyHooks() });
  });
  after(async () => t.drop());

  async function indexRows(): Promise<string[]> {
    const s = await t.db.query<{ r: string }>(`SELECT resource_id || ':' || value_norm AS r FROM idx_string UNION ALL SELECT resource_id || ':' || code FROM idx_token ORDER BY 1`);
    return s.rows.map((x) => x.r);
  }

  it('writes rows and index rows of many resources in one statement after the lock, and rewrites them on update', async () => {
    const before = counter.count();
    await store.transaction(ctx, (tx) => tx.write(ctx, [1, 2, 3].map((i) => ({ kind: 'update' as const, id: `p${i}`, resource: patient(`p${i}`, `Fam${i}`, `v${i}`) }))));
    assert.equal(counter.count() - before, 4, 'BEGIN, lock, rows with index rows, COMMIT');
    assert.deepEqual(await indexRows(), ['p1:fam1', 'p1:v1', 'p2:fam2', 'p2:v2', 'p3:fam3', 'p3:v3']);
    const mid = counter.count();
    await store.transaction(ctx, (tx) =>
      tx.write(ctx, [
        { kind: 'update', id: 'p1', resource: patient('p1', 'Other', 'w1') },
        { kind: 'delete', resourceType: 'Patient', id: 'p2' },
      ]),
    );
    assert.equal(counter.count() - mid, 4, 'old index rows are deleted in the same statement');
    assert.deepEqual(await indexRows(), ['p1:other', 'p1:w1', 'p3:fam3', 'p3:v3']);
    const versions = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM resource_version`);
    assert.equal(Number(versions.rows[0]!.n), 5);
  });

  it('a resource written twice in one batch keeps only its last index rows', async () => {
    await store.transaction(ctx, (tx) =>
      tx.write(ctx, [
        { kind: 'update', id: 'p4', resource: patient('p4', 'First', 'x1') },
        { kind: 'update', id: 'p4', resource: patient('p4', 'Second', 'x2') },
      ]),
    );
    const rows = (await indexRows()).filter((r) => r.startsWith('p4:'));
    assert.deepEqual(rows, ['p4:second', 'p4:x2']);
  });
});
