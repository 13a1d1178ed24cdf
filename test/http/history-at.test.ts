import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.js';

/** `_at`: versions current at some point during the period (R4 3.1.0.8.1), at every precision. */
let s: TestServer;
let id: string;
before(async () => {
  s = await startTestServer();
  const created = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', gender: 'female' } });
  id = created.body.id as string;
  for (const gender of ['male', 'other']) {
    const res = await s.fhir(`/Patient/${id}`, { method: 'PUT', json: { resourceType: 'Patient', id, gender } });
    assert.equal(res.status, 200);
  }
  // Place the three versions at known instants: v1 2024-01-10, v2 2024-03-05T12:00Z, v3 2024-03-20.
  const at = ['2024-01-10T00:00:00Z', '2024-03-05T12:00:00Z', '2024-03-20T00:00:00Z'];
  for (const [i, when] of at.entries()) {
    await s.testDb.db.query('UPDATE resource_version SET last_updated = $1 WHERE resource_type = $2 AND id = $3 AND version_id = $4', [when, 'Patient', id, i + 1]);
  }
});
after(async () => {
  await s.close();
});

async function versionsAt(at: string): Promise<number[]> {
  const res = await s.fhir(`/Patient/${id}/_history?_at=${encodeURIComponent(at)}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const entries = (res.body.entry ?? []) as { resource: { meta: { versionId: string } } }[];
  return entries.map((e) => Number(e.resource.meta.versionId)).sort();
}

test('an instant selects the one version current then', async () => {
  assert.deepEqual(await versionsAt('2024-02-01T00:00:00Z'), [1]);
  assert.deepEqual(await versionsAt('2024-03-05T12:00:00Z'), [2]);
  assert.deepEqual(await versionsAt('2024-03-05T11:59:59Z'), [1]);
  assert.deepEqual(await versionsAt('2023-12-31T23:59:59Z'), []);
});

test('a partial date selects every version current at some point during it', async () => {
  // March 2024: v1 until the 5th, v2 until the 20th, v3 after.
  assert.deepEqual(await versionsAt('2024-03'), [1, 2, 3]);
  assert.deepEqual(await versionsAt('2024-03-05'), [1, 2]);
  assert.deepEqual(await versionsAt('2024-02'), [1]);
  assert.deepEqual(await versionsAt('2024'), [1, 2, 3]);
  assert.deepEqual(await versionsAt('2025'), [3]);
  // A time without a zone names no single period: refused.
  const bad = await s.fhir(`/Patient/${id}/_history?_at=2024-03-05T10:00:00`);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.resourceType, 'OperationOutcome');
});
