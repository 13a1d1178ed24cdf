import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IndexValue } from '../../src/fhir/index-values.js';
import { createIndexWriter } from '../../src/store/index.js';
import { createTestDb, type TestDb } from '../support/db.js';

// Rows travel as jsonb grouped per resource (src/store/index-writer.ts): every value must arrive as sent.
describe('index writer', () => {
  let t: TestDb;
  before(async () => {
    t = await createTestDb();
  });
  after(async () => t.drop());

  it('writes the rows of several resources and tables unchanged, nulls and groups included', async () => {
    const odd = 'Ann "the" \\ O\'Brien – 東京 😀';
    const a: IndexValue[] = [
      { type: 'string', param: 'family', value: odd },
      { type: 'string', param: 'given', value: 'Bo' },
      { type: 'token', param: 'identifier', system: null, code: 'x1', text: null },
      { type: 'date', param: 'birthdate', low: '2001-02-03T00:00:00.000Z', high: null },
      { type: 'token', param: 'code-value', system: 'urn:s', code: 'c', text: 'Text', group: 2 },
    ];
    const b: IndexValue[] = [{ type: 'string', param: 'family', value: 'Zed' }];
    const writer = createIndexWriter({ normalize: (s) => s.toLowerCase() });
    await t.db.transaction((tx) =>
      writer.insert(tx, 'default', [
        { resourceType: 'Patient', id: 'a', values: a },
        { resourceType: 'Observation', id: 'b', values: b },
      ]),
    );
    const strings = await t.db.query(`SELECT resource_type, resource_id, param, value_norm, value_exact, grp FROM idx_string ORDER BY resource_id, param`);
    assert.deepEqual(strings.rows, [
      { resource_type: 'Patient', resource_id: 'a', param: 'family', value_norm: odd.toLowerCase(), value_exact: odd, grp: null },
      { resource_type: 'Patient', resource_id: 'a', param: 'given', value_norm: 'bo', value_exact: 'Bo', grp: null },
      { resource_type: 'Observation', resource_id: 'b', param: 'family', value_norm: 'zed', value_exact: 'Zed', grp: null },
    ]);
    const tokens = await t.db.query(`SELECT param, system, code, text_norm, grp FROM idx_token ORDER BY param`);
    assert.deepEqual(tokens.rows, [
      { param: 'code-value', system: 'urn:s', code: 'c', text_norm: 'text', grp: 2 },
      { param: 'identifier', system: null, code: 'x1', text_norm: null, grp: null },
    ]);
    const dates = await t.db.query<{ low: Date; high: Date | number }>(`SELECT low, high FROM idx_date`);
    assert.equal(dates.rows[0]!.low.toISOString(), '2001-02-03T00:00:00.000Z');
    assert.equal(String(dates.rows[0]!.high), 'Infinity');
  });
});
