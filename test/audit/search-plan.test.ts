import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchWhere, compileAuditSearch, entryWhere } from '../../src/audit/query.js';
import { createTestDb } from '../support/db.js';
import { planNodes } from '../support/plan.js';

/**
 * A search for failed accesses reads only the batches that hold one (migration 045). Before the
 * `failed` column the outcome was only in each entry's signed bytes, and the search parsed every
 * entry of the log: 21-26 s on the 1M-resource benchmark store's 2.7M entries, with no failure in it.
 */
test('a search for failures reads the batches flagged as holding one, not the whole log', async () => {
  const t = await createTestDb();
  try {
    // 30,000 batches of successful accesses, 20 holding a failure, as the insert path flags them.
    await t.db.query(
      `INSERT INTO audit_batch (tenant_id, first_at, last_at, agent_ids, entity_ids, failed, entries, leaf_hashes)
       SELECT 'default', now() - make_interval(secs => 30020 - g), now() - make_interval(secs => 30020 - g), ARRAY['app'], ARRAY['Patient/p' || g],
              g % 1500 = 0, ARRAY['\\x00'::bytea], ARRAY['\\x00'::bytea]
       FROM generate_series(1, 30000) g`,
    );
    await t.db.query('ANALYZE audit_batch');
    const search = compileAuditSearch('default', [['outcome', '8']]);
    // The two statements of runAuditSearch (src/audit/query.ts): the window's edge, then the entries in it.
    const edge = await planNodes(
      t.db,
      `SELECT b.last_at AS edge FROM audit_batch b WHERE ${batchWhere(search.batchConditions, 'b')} ORDER BY b.last_at DESC OFFSET 63 LIMIT 1`,
      search.params,
    );
    const entries = await planNodes(t.db, `SELECT e.entry_id FROM audit_entry e WHERE ${entryWhere(search)} ORDER BY e.recorded_at DESC LIMIT 21`, search.params);
    for (const [name, nodes] of [['edge', edge], ['entries', entries]] as const) {
      const scans = nodes.filter((n) => n['Relation Name'] === 'audit_batch' || n['Index Name']?.startsWith('audit_batch'));
      const described = nodes.map((n) => `${n['Node Type']} ${n['Index Name'] ?? n['Relation Name'] ?? ''}`).join(' > ');
      assert.ok(
        scans.some((n) => n['Index Name'] === 'audit_batch_failed'),
        `${name}: ${described}`,
      );
      assert.ok(!scans.some((n) => n['Index Name'] === 'audit_batch_by_time' || n['Node Type'] === 'Seq Scan'), `${name}: ${described}`);
    }
    // A search for successes (or for either) cannot narrow by the flag.
    assert.deepEqual(compileAuditSearch('default', [['outcome', '0,8']]).batchConditions, ['@tenant_id = $1']);
  } finally {
    await t.drop();
  }
});
