import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, type RequestContext } from '../../src/kernel/index.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type FhirResource, type Queryable, type ResourceStore } from '../../src/store/index.js';
import { createReadCoalescer, readsInFlight } from '../../src/store/read-coalescer.js';
import { createTestDb, type TestDb } from '../support/db.js';

// Reads by id outside transactions go through src/store/read-coalescer.ts: concurrent reads share
// statements, and each caller still gets its own row (or none), whatever the batch holds.

const ctxOf = (tenant: string) => ({ tenant }) as RequestContext;

describe('reads by id, coalesced', () => {
  let t: TestDb;
  let store: ResourceStore;
  before(async () => {
    t = await createTestDb();
    await t.db.query(`INSERT INTO tenant (tenant_id, name) VALUES ('other', 'other') ON CONFLICT DO NOTHING`);
    store = createResourceStore({ db: t.db, codec: plaintextCodec, indexWriter: createIndexWriter({ normalize: (s) => s }), extract: () => [], clock: systemClock, hooks: emptyHooks() });
    const patients = (tenant: string, n: number): FhirResource[] => Array.from({ length: n }, (_, i) => ({ resourceType: 'Patient', id: `p${i}`, gender: tenant === 'default' ? 'female' : 'male', birthDate: `19${String(10 + i).padStart(2, '0')}-01-01` }));
    for (const tenant of ['default', 'other']) {
      await store.transaction(ctxOf(tenant), (tx) => tx.write(ctxOf(tenant), patients(tenant, 40).map((resource) => ({ kind: 'update' as const, id: resource.id!, resource }))));
    }
  });
  after(async () => t.drop());

  it('many concurrent reads share statements and each gets its own resource, its tenant, or not-found', async () => {
    let statements = 0;
    const counted: Queryable = { query: (sql, params) => ((statements += 1), t.db.query(sql as never, params)) };
    const coalescer = createReadCoalescer(counted, { maxInFlight: 1 });
    const asked: [string, string][] = [];
    for (let i = 0; i < 60; i++) asked.push([i % 2 ? 'other' : 'default', `p${i % 45}`]); // p40–p44 do not exist; some ids twice
    const rows = await Promise.all(asked.map(([tenant, id]) => coalescer.read(tenant, 'Patient', id)));
    assert.ok(statements < 10, `${statements} statements for 60 reads`);
    rows.forEach((row, i) => {
      const [tenant, id] = asked[i]!;
      if (Number(id.slice(1)) >= 40) return assert.equal(row, undefined, `${tenant} ${id}`);
      assert.equal(row?.id, id);
      const body = JSON.parse(row!.content!.toString('utf8')) as { gender: string };
      assert.equal(body.gender, tenant === 'default' ? 'female' : 'male', `${tenant} ${id} comes from its own tenant`);
    });
  });

  it('a lone read is sent at once, as one statement', async () => {
    let statements = 0;
    const counted: Queryable = { query: (sql, params) => ((statements += 1), t.db.query(sql as never, params)) };
    const row = await createReadCoalescer(counted).read('default', 'Patient', 'p3');
    assert.equal(row?.id, 'p3');
    assert.equal(statements, 1);
  });

  it('the reads asked in one turn go as one statement, even with statement slots free', async () => {
    let statements = 0;
    const counted: Queryable = { query: (sql, params) => ((statements += 1), t.db.query(sql as never, params)) };
    const coalescer = createReadCoalescer(counted, { maxInFlight: 4 });
    const rows = await Promise.all(['p1', 'p2', 'p3', 'p4', 'p5'].map((id) => coalescer.read('default', 'Patient', id)));
    assert.deepEqual(rows.map((row) => row?.id), ['p1', 'p2', 'p3', 'p4', 'p5']);
    assert.equal(statements, 1);
  });

  it('leaves one core to the server itself: reads in flight by cores', () => {
    assert.deepEqual([1, 2, 4, 16].map(readsInFlight), [1, 1, 3, 15]);
  });

  it('a failed statement fails every read of its batch, and the next batch still runs', async () => {
    let fail = true;
    const flaky: Queryable = {
      query: (sql, params) => {
        if (fail) return Promise.reject(new Error('connection lost'));
        return t.db.query(sql as never, params);
      },
    };
    const coalescer = createReadCoalescer(flaky, { maxInFlight: 1 });
    const first = Promise.allSettled(['p1', 'p2', 'p3'].map((id) => coalescer.read('default', 'Patient', id)));
    const settled = await first;
    assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected', 'rejected']);
    fail = false;
    assert.equal((await coalescer.read('default', 'Patient', 'p2'))?.id, 'p2');
  });

  it('the store reads through it: read, peek and not-found as before', async () => {
    const [a, b, c] = await Promise.all([store.read(ctxOf('default'), 'Patient', 'p5'), store.peek(ctxOf('other'), 'Patient', 'p5'), store.peek(ctxOf('default'), 'Patient', 'nope')]);
    assert.equal(JSON.parse(a.json!).gender, 'female');
    assert.equal(JSON.parse(b!.json!).gender, 'male');
    assert.equal(c, undefined);
    await assert.rejects(store.read(ctxOf('default'), 'Patient', 'nope'), /not known/);
  });
});
