import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, type RequestContext } from '../../src/kernel/index.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type Db, type FhirResource } from '../../src/store/index.js';
import { LOCK_CURRENT_SQL } from '../../src/store/write.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { planNodes } from '../support/plan.js';

const ctx = { tenant: 'default' } as RequestContext;
const patient = (id: string): FhirResource => ({ resourceType: 'Patient', id, active: true });

type Sent = Parameters<Db['query']>[0];

/** Records every statement the store sends inside its transactions, as it sent it (text or named config). */
function recording(db: Db): { db: Db; sent: Sent[] } {
  const sent: Sent[] = [];
  const wrapped: Db = Object.assign(Object.create(db) as Db, {
    transaction: <T>(work: (tx: Parameters<Parameters<Db['transaction']>[0]>[0]) => Promise<T>) =>
      db.transaction((tx) => work({ query: (sql, params) => (sent.push(sql), tx.query(sql, params)) })),
  });
  return { db: wrapped, sent };
}

describe('the lock on the rows a write touches', () => {
  let t: TestDb;
  before(async () => {
    t = await createTestDb();
  });
  after(async () => t.drop());

  it('is sent unnamed, so no plan made while the store was small is kept for it', async () => {
    const rec = recording(t.db);
    const store = createResourceStore({ db: rec.db, codec: plaintextCodec, indexWriter: createIndexWriter({ normalize: (s) => s.toLowerCase() }), extract: () => [], clock: systemClock, hooks: emptyHooks() });
    await store.transaction(ctx, (tx) => tx.write(ctx, [{ kind: 'update', id: 'lock-1', resource: patient('lock-1') }]));
    const text = (s: Sent) => (typeof s === 'string' ? s : s.text);
    const lock = rec.sent.filter((s) => text(s).includes('FOR UPDATE'));
    assert.equal(lock.length, 1, 'one lock statement');
    assert.equal(lock[0], LOCK_CURRENT_SQL, 'sent as text: a named statement gets a cached plan after five executions');
  });

  it('is planned as primary-key probes for a Bundle of ids on a table analysed when it was empty and grown since', async () => {
    await t.db.query('ANALYZE resource');
    await t.db.query(
      `INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, deleted, content)
       SELECT 'default', 'Patient', 'bulk-' || g, 1, now(), false, '\\x7b7d'::bytea FROM generate_series(1, 3000) g`,
    );
    // A Bundle's worth of ids on a store of a few thousand resources: the plain join hashed the tenant's rows here.
    const ids = Array.from({ length: 60 }, (_, i) => `bulk-${1 + i * 37}`);
    const nodes = await planNodes(t.db, LOCK_CURRENT_SQL, [
      'default',
      ids.map(() => 'Patient'),
      ids,
      ids.map((_, i) => i % 2 === 0),
    ]);
    const onResource = nodes.filter((n) => n['Relation Name'] === 'resource');
    assert.deepEqual(
      onResource.map((n) => [n['Node Type'], n['Index Name']]),
      [['Index Scan', 'resource_pkey']],
    );
    // The whole key in the index condition: one probe per id, not a walk over the tenant's part of the index.
    assert.match(String(onResource[0]!['Index Cond']), /\(id = /, 'probed by id');
  });
});
