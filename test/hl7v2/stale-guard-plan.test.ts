import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ADVANCE_CLOCKS_SQL, advanceClocks } from '../../src/hl7v2/ingest/stale-guard.js';
import type { Queryable } from '../../src/store/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { planNodes } from '../support/plan.js';

describe('HL7 v2 entry clocks: each message reads only its own keys', () => {
  let t: TestDb;
  before(async () => {
    t = await createTestDb();
  });
  after(async () => t.drop());

  it('sends the statement unnamed and still reports the entries whose clock is newer', async () => {
    const sent: unknown[] = [];
    const q: Queryable = { query: (sql, params) => (sent.push(sql), t.db.query(sql, params)) };
    const clock = (sentAt: string) => ({ messageId: randomUUID(), sentAt, entries: [{ index: 0, key: 'k-order' }, { index: 1, key: 'k-other' }] });
    assert.equal((await advanceClocks(q, 'default', [clock('2026-01-02T00:00:00Z')])).size, 0);
    const late = clock('2026-01-01T00:00:00Z');
    assert.deepEqual([...(await advanceClocks(q, 'default', [late])).entries()], [[late.messageId, [0, 1]]]);
    assert.deepEqual(sent, [ADVANCE_CLOCKS_SQL, ADVANCE_CLOCKS_SQL], 'text, not a named statement whose plan a connection keeps');
  });

  it('probes the clocks by key on a table analysed when it was empty and grown since', async () => {
    await t.db.query('ANALYZE hl7v2_entry_clock');
    await t.db.query(
      `INSERT INTO hl7v2_entry_clock (tenant_id, entry_key, message_time, message_id)
       SELECT 'default', 'bulk-' || g, now(), gen_random_uuid() FROM generate_series(1, 3000) g`,
    );
    const keys = Array.from({ length: 60 }, (_, i) => `bulk-${1 + i * 37}`);
    const nodes = await planNodes(t.db, ADVANCE_CLOCKS_SQL, [
      'default',
      keys,
      keys.map(() => '2026-01-01T00:00:00Z'),
      keys.map(() => randomUUID()),
    ]);
    const reads = nodes.filter((n) => n['Relation Name'] === 'hl7v2_entry_clock' && n['Node Type'] !== 'ModifyTable');
    assert.equal(reads.length, 1, 'one read of the clocks');
    assert.notEqual(reads[0]!['Node Type'], 'Seq Scan');
    // An index scan, or a bitmap heap scan over its index scan: either way the key is in the index condition.
    const probes = nodes.filter((n) => n['Index Name'] === 'hl7v2_entry_clock_pkey');
    assert.ok(
      probes.length === 1 && /entry_key = /.test(String(probes[0]!['Index Cond'])),
      `probed by key, not a walk over the tenant: ${JSON.stringify(probes.map((n) => n['Index Cond']))}`,
    );
  });
});
