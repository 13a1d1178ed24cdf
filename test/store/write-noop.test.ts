import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, type RequestContext } from '../../src/kernel/index.js';
import type { IndexValue } from '../../src/fhir/index-values.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type BodyCodec, type Db, type FhirResource, type ResourceStore, type WriteOperation, type WriteResult } from '../../src/store/index.js';
import { sameContent } from '../../src/store/same-content.js';
import { createTestDb, type TestDb } from '../support/db.js';

// An update whose content equals the current version's writes nothing (src/store/write.ts, unchangedVersion):
// no version, current or index row; its result is the current version, flagged noop.

const ctx = { tenant: 'default' } as RequestContext;

function extract(r: FhirResource): IndexValue[] {
  const p = r as FhirResource & { name?: { family: string }[] };
  return (p.name ?? []).map((n): IndexValue => ({ type: 'string', param: 'family', value: n.family }));
}

const patient = (id: string, extra: Record<string, unknown> = {}): FhirResource => ({ resourceType: 'Patient', id, name: [{ family: 'Smith', given: ['Anna'] }], gender: 'female', ...extra });

/** Counts the statements sent inside transactions (BEGIN and COMMIT included) and the bodies decoded. */
function counting(db: Db) {
  const n = { statements: 0, decoded: 0 };
  const wrapped: Db = Object.assign(Object.create(db) as Db, {
    transaction: <T>(work: (tx: Parameters<Parameters<Db['transaction']>[0]>[0]) => Promise<T>) =>
      db.transaction((tx) => {
        n.statements += 2;
        return work({ query: (sql, params) => ((n.statements += 1), tx.query(sql, params)) });
      }),
  });
  const codec: BodyCodec = { encode: plaintextCodec.encode, decode: (identity, bytes) => ((n.decoded += 1), plaintextCodec.decode(identity, bytes)) };
  return { db: wrapped, codec, n };
}

describe('an update that changes nothing writes nothing', () => {
  let t: TestDb;
  let store: ResourceStore;
  let c: ReturnType<typeof counting>;
  const seen: WriteResult[] = [];
  before(async () => {
    t = await createTestDb();
    c = counting(t.db);
    const hooks = emptyHooks();
    hooks.afterWrite.push(async (_ctx, _tx, results) => void seen.push(...results));
    store = createResourceStore({ db: c.db, codec: c.codec, indexWriter: createIndexWriter({ normalize: (s) => s.toLowerCase() }), extract, clock: systemClock, hooks });
  });
  after(async () => t.drop());

  const write = (ops: WriteOperation[]) => store.transaction(ctx, (tx) => tx.write(ctx, ops));
  const update = (resource: FhirResource, ifMatch?: number) => write([{ kind: 'update', id: resource.id!, resource, ...(ifMatch !== undefined ? { ifMatch } : {}) }]);
  async function versions(id: string): Promise<number> {
    const r = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource_version WHERE resource_type = $1 AND id = $2', ['Patient', id]);
    return Number(r.rows[0]!.n);
  }

  it('the same body twice: one version, the second answered with it; lock only, no row statement', async () => {
    const [first] = await update(patient('a'));
    assert.equal(first!.created, true);
    const before = c.n.statements;
    seen.length = 0;
    const [again] = await update(patient('a'));
    assert.equal(c.n.statements - before, 3, 'BEGIN, lock, COMMIT');
    assert.equal(again!.noop, true);
    assert.equal(again!.created, false);
    assert.equal(again!.operation, 'update');
    assert.equal(again!.stored.versionId, 1);
    assert.equal(again!.stored.json, first!.stored.json, 'the current version, as stored');
    assert.equal(again!.stored.lastUpdated.getTime(), first!.stored.lastUpdated.getTime());
    assert.equal(again!.stored.method, 'PUT', 'the attempted method (the audit records an update)');
    assert.deepEqual(seen.map((r) => [r.noop, r.stored.versionId]), [[true, 1]], 'afterWrite hooks still see it');
    assert.equal(await versions('a'), 1);
  });

  it('key order, the client\'s meta.versionId and meta.lastUpdated do not count; array order does', async () => {
    await update(patient('b', { meta: { tag: [{ system: 'urn:t', code: 'x' }] } }));
    const reordered: FhirResource = { gender: 'female', meta: { versionId: '7', lastUpdated: '2001-01-01T00:00:00Z', tag: [{ code: 'x', system: 'urn:t' }] }, name: [{ given: ['Anna'], family: 'Smith' }], id: 'b', resourceType: 'Patient' };
    const [same] = await update(reordered);
    assert.equal(same!.noop, true);
    const [swapped] = await update(patient('b', { meta: { tag: [{ system: 'urn:t', code: 'x' }] }, name: [{ family: 'Smith', given: ['Anna'] }, { family: 'Jones' }] }));
    assert.equal(swapped!.noop, false);
    const [order] = await update(patient('b', { meta: { tag: [{ system: 'urn:t', code: 'x' }] }, name: [{ family: 'Jones' }, { family: 'Smith', given: ['Anna'] }] }));
    assert.equal(order!.noop, false);
    assert.equal(order!.stored.versionId, 3);
  });

  it('meta.tag, security, profile and source are content: changing one makes a version', async () => {
    await update(patient('c'));
    let v = 1;
    for (const meta of [{ tag: [{ code: 't' }] }, { security: [{ code: 'R' }] }, { profile: ['http://x/p'] }, { source: 'urn:src' }]) {
      const [r] = await update(patient('c', { meta }));
      assert.equal(r!.noop, false, JSON.stringify(meta));
      assert.equal(r!.stored.versionId, ++v);
    }
  });

  it('If-Match is checked first: a stale one on an identical body is refused', async () => {
    await update(patient('d'));
    await update(patient('d', { gender: 'male' }));
    await assert.rejects(update(patient('d', { gender: 'male' }), 1), /VERSION_CONFLICT|If-Match version 1/);
    const [ok] = await update(patient('d', { gender: 'male' }), 2);
    assert.equal(ok!.noop, true);
    assert.equal(ok!.stored.versionId, 2);
  });

  it('an update of a deleted resource writes a version even with its last body', async () => {
    await update(patient('e'));
    await write([{ kind: 'delete', resourceType: 'Patient', id: 'e' }]);
    const [back] = await update(patient('e'));
    assert.equal(back!.noop, false);
    assert.equal(back!.created, true);
    assert.equal(back!.stored.versionId, 3);
  });

  it('in one batch, a repeat of the batch\'s own write is a no-op, and a change after a no-op keeps correct index rows', async () => {
    const results = await write([
      { kind: 'update', id: 'f', resource: patient('f') },
      { kind: 'update', id: 'f', resource: patient('f') },
    ]);
    assert.deepEqual(results.map((r) => [r.noop, r.stored.versionId]), [[false, 1], [true, 1]]);
    const next = await write([
      { kind: 'update', id: 'f', resource: patient('f') },
      { kind: 'update', id: 'f', resource: patient('f', { name: [{ family: 'Jones' }] }) },
    ]);
    assert.deepEqual(next.map((r) => [r.noop, r.stored.versionId]), [[true, 1], [false, 2]]);
    const rows = await t.db.query<{ v: string }>(`SELECT value_norm AS v FROM idx_string WHERE resource_id = 'f'`);
    assert.deepEqual(rows.rows.map((r) => r.v), ['jones']);
    assert.equal(await versions('f'), 2);
  });

  it('only updates read and decode the current body: creates and deletes do not', async () => {
    const before = c.n.decoded;
    await write([{ kind: 'create', resource: patient('g'), id: 'g' }]);
    await write([{ kind: 'delete', resourceType: 'Patient', id: 'g' }]);
    await write([{ kind: 'create', resource: patient('g'), id: 'g' }]);
    assert.equal(c.n.decoded - before, 0);
    await update(patient('g', { gender: 'male' }));
    assert.equal(c.n.decoded - before, 1);
  });
});

describe('sameContent', () => {
  it('is JSON equality with the server\'s stamps left out', () => {
    const a: FhirResource = { resourceType: 'Patient', id: 'x', meta: { versionId: '1', lastUpdated: 'then' }, active: true };
    assert.equal(sameContent(a, { resourceType: 'Patient', id: 'x', active: true }), true, 'a meta of stamps only is no meta');
    assert.equal(sameContent(a, { resourceType: 'Patient', id: 'x', active: true, extra: undefined }), true, 'undefined members are absent');
    assert.equal(sameContent(a, { resourceType: 'Patient', id: 'x', active: false }), false);
    assert.equal(sameContent(a, { resourceType: 'Patient', id: 'y', active: true }), false);
    assert.equal(sameContent(a, { resourceType: 'Patient', id: 'x', active: true, gender: 'male' }), false);
    assert.equal(sameContent({ resourceType: 'P', v: [1, 2] }, { resourceType: 'P', v: [2, 1] }), false);
    assert.equal(sameContent({ resourceType: 'P', v: { a: null } }, { resourceType: 'P', v: {} }), false, 'null is a value');
    assert.equal(sameContent({ resourceType: 'P', v: 1 }, { resourceType: 'P', v: '1' }), false);
  });
});
