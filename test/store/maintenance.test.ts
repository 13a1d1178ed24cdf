import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeStaleTables } from '../../src/store/index.js';
import { createTestDb } from '../support/db.js';

test('tables changed a lot since their last ANALYZE get fresh statistics', async () => {
  const t = await createTestDb();
  try {
    await t.db.query('ANALYZE');
    await t.db.query(
      `INSERT INTO idx_token (tenant_id, resource_type, resource_id, param, system, code)
       SELECT 'default', 'Observation', 'o' || g, 'code', 'http://loinc.org', (g % 50)::text FROM generate_series(1, 5000) g`,
    );
    // Statistics counters are updated asynchronously by the backend; wait until they show the inserts.
    for (let i = 0; i < 100; i++) {
      await t.db.query('SELECT pg_stat_force_next_flush()').catch(() => undefined);
      const r = await t.db.query<{ n: string }>("SELECT n_mod_since_analyze AS n FROM pg_stat_user_tables WHERE relname = 'idx_token'");
      if (Number(r.rows[0]?.n) >= 5000) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const analysed = await analyzeStaleTables(t.db);
    assert.ok(analysed.includes('idx_token'), `analysed: ${analysed.join(', ')}`);
    const stats = await t.db.query<{ n: string }>("SELECT count(*) AS n FROM pg_stats WHERE tablename = 'idx_token'");
    assert.ok(Number(stats.rows[0]?.n) > 0);
  } finally {
    await t.drop();
  }
});
