import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { normalizeString } from '../../src/fhir/index.js';
import { migrate } from '../../src/store/migrate.js';
import { createIndexWriter } from '../../src/store/index-writer.js';
import type { IndexValue } from '../../src/fhir/index-values.js';
import { createTestDb } from '../support/db.js';

/**
 * Migration 047 backfills idx_token_patient from the index rows a store
 * already has, and gives the rows the index writer gives the same values.
 */
const testDb = await createTestDb({ migrate: false });
after(() => testDb.drop());

const token = (code: string, system: string | null = 'http://loinc.org', text: string | null = null): IndexValue => ({ type: 'token', param: 'code', system, code, text });
const ref = (param: string, targetType: string | null, targetId: string): IndexValue => ({
  type: 'reference', param, targetType, targetId, url: null, version: null, identifierSystem: null, identifierValue: null,
});

const resources = [
  // Subject and patient name p1, performer p2; one code twice with two displays; a second system.
  { resourceType: 'Observation', id: 'o1', values: [token('A', 'http://loinc.org', 'one'), token('A', 'http://loinc.org', 'uno'), token('S', 'http://snomed.info/sct'), ref('subject', 'Patient', 'p1'), ref('patient', 'Patient', 'p1'), ref('performer', 'Patient', 'p2')] },
  // A Group's: no Patient, no rows.
  { resourceType: 'Observation', id: 'o2', values: [token('A'), ref('subject', 'Group', 'g1')] },
  // Not a keyed parameter.
  { resourceType: 'Observation', id: 'o3', values: [{ ...token('vital-signs'), param: 'category' } as IndexValue, ref('subject', 'Patient', 'p1')] },
  { resourceType: 'Condition', id: 'c1', values: [token('X', null), ref('subject', 'Patient', 'p3'), ref('patient', 'Patient', 'p3')] },
];

const select = 'SELECT resource_type, resource_id, param, system, code, patient_id, ref_params FROM idx_token_patient ORDER BY 1, 2, 4, 5, 6';

test('existing index rows are backfilled as the index writer would write them', async () => {
  const db = testDb.db;
  await migrate(db, { upTo: '046' });
  const writer = createIndexWriter({ normalize: normalizeString });
  // The rows a store written before 047 holds: the parameter tables only.
  await writer.insert(db, 'default', resources, { patientTokens: false });
  await migrate(db);
  const backfilled = (await db.query(select)).rows;
  assert.deepEqual(backfilled, [
    { resource_type: 'Condition', resource_id: 'c1', param: 'code', system: null, code: 'X', patient_id: 'p3', ref_params: ['patient', 'subject'] },
    { resource_type: 'Observation', resource_id: 'o1', param: 'code', system: 'http://loinc.org', code: 'A', patient_id: 'p1', ref_params: ['patient', 'subject'] },
    { resource_type: 'Observation', resource_id: 'o1', param: 'code', system: 'http://loinc.org', code: 'A', patient_id: 'p2', ref_params: ['performer'] },
    { resource_type: 'Observation', resource_id: 'o1', param: 'code', system: 'http://snomed.info/sct', code: 'S', patient_id: 'p1', ref_params: ['patient', 'subject'] },
    { resource_type: 'Observation', resource_id: 'o1', param: 'code', system: 'http://snomed.info/sct', code: 'S', patient_id: 'p2', ref_params: ['performer'] },
  ]);
  await db.query('DELETE FROM idx_token_patient');
  await writer.insert(db, 'default', resources, { tables: false });
  assert.deepEqual((await db.query(select)).rows, backfilled);
});
