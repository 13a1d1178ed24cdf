import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';

// More requests at once than the pool's main connections (12 of the default 20; 15 before the
// control connections existed): each holds a transaction while it waits, for the criteria's lock
// and for its read's audit entry.
const AT_ONCE = 20;
// The races on ids a PUT creates need only a few writers, and fewer than the pool's main
// connections: more would only queue for a connection behind row locks (a 503 after the connect
// timeout on a loaded machine), which is back-pressure, not what these tests are about.
const RACERS = 8;

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.close();
});

const patientWith = (value: string) => ({ resourceType: 'Patient', identifier: [{ system: 'http://example.org/mrn', value }] });
const count = async (value: string) => (await s.fhir(`/Patient?identifier=http://example.org/mrn|${value}&_summary=count`)).body.total as number;
const statuses = (all: { status: number }[]) => all.map((r) => r.status).sort((a, b) => a - b);
/** AT_ONCE transaction Bundles at the same time; the i-th has the entries `entries(i)`. */
const transactionsAtOnce = (entries: (i: number) => unknown[], n = AT_ONCE) =>
  Promise.all(Array.from({ length: n }, (_, i) => s.fhir('', { method: 'POST', json: { resourceType: 'Bundle', type: 'transaction', entry: entries(i) } })));

test('concurrent conditional creates with the same criteria create one resource; the others find it', async () => {
  const value = `cc-${Date.now()}`;
  const all = await Promise.all(
    Array.from({ length: AT_ONCE }, () => s.fhir('/Patient', { method: 'POST', json: patientWith(value), headers: { 'if-none-exist': `identifier=http://example.org/mrn|${value}` } })),
  );
  assert.deepEqual(statuses(all), [...Array(AT_ONCE - 1).fill(200), 201]);
  assert.equal(new Set(all.map((r) => r.body.id)).size, 1, 'every answer names the one resource');
  assert.equal(await count(value), 1);
});

test('concurrent conditional updates that create (nothing matches yet) create one resource', async () => {
  const value = `cu-${Date.now()}`;
  const all = await Promise.all(
    Array.from({ length: AT_ONCE }, () => s.fhir(`/Patient?identifier=http://example.org/mrn|${value}`, { method: 'PUT', json: patientWith(value) })),
  );
  assert.equal(all.filter((r) => r.status === 201).length, 1);
  assert.deepEqual(all.filter((r) => r.status !== 201).map((r) => r.status), Array(AT_ONCE - 1).fill(200));
  assert.equal(await count(value), 1);
});

test('concurrent transactions with the same ifNoneExist create one resource, whatever the parameter order', async () => {
  const value = `tx-${Date.now()}`;
  const criteria = [`identifier=http://example.org/mrn|${value}&active=true`, `active=true&identifier=http://example.org/mrn|${value}`];
  const all = await transactionsAtOnce((i) => [
    { fullUrl: 'urn:uuid:0b5e3c1e-7c0a-4a53-9f3e-2b8f0d6c1a11', resource: { ...patientWith(value), active: true }, request: { method: 'POST', url: 'Patient', ifNoneExist: criteria[i % 2] } },
  ]);
  assert.deepEqual(statuses(all), Array(AT_ONCE).fill(200), JSON.stringify(all.find((r) => r.status !== 200)?.body));
  const created = all.filter((r) => r.body.entry[0].response.status.startsWith('201'));
  assert.equal(created.length, 1);
  assert.equal(await count(value), 1);
});

const conflictCode = (r: { body: any }) => r.body?.issue?.[0]?.details?.coding?.[0]?.code;

test('concurrent PUTs that create the same id: one creates, others update or get a retryable 409, never a 500', async () => {
  const id = `put-${Date.now()}`;
  const all = await Promise.all(
    Array.from({ length: RACERS }, (_, i) => s.fhir(`/Patient/${id}`, { method: 'PUT', json: { resourceType: 'Patient', id, birthDate: `19${10 + i}-01-01` } })),
  );
  assert.equal(all.filter((r) => r.status === 201).length, 1);
  for (const r of all.filter((x) => x.status !== 200 && x.status !== 201)) {
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(conflictCode(r), 'DB_CONCURRENT_CONFLICT');
  }
  // Every success is a version of its own, and the versions have no gaps.
  const succeeded = all.filter((r) => r.status === 200 || r.status === 201).length;
  const history = await s.fhir(`/Patient/${id}/_history?_count=100`);
  assert.deepEqual(history.body.entry.map((e: any) => Number(e.resource.meta.versionId)).sort((a: number, b: number) => a - b), Array.from({ length: succeeded }, (_, i) => i + 1));
});

test('concurrent transactions creating the same ids by PUT, in either order: each commits whole or answers 409, never a 500', async () => {
  const [x, y] = [`tx-x-${Date.now()}`, `tx-y-${Date.now()}`];
  const all = await transactionsAtOnce((i) =>
    (i % 2 ? [x, y] : [y, x]).map((id) => ({ resource: { resourceType: 'Patient', id, active: i % 3 === 0 }, request: { method: 'PUT', url: `Patient/${id}` } })),
    RACERS,
  );
  for (const r of all.filter((a) => a.status !== 200)) {
    assert.equal(r.status, 409, JSON.stringify(r.body));
    assert.equal(conflictCode(r), 'DB_CONCURRENT_CONFLICT');
  }
  const committed = all.filter((r) => r.status === 200);
  assert.ok(committed.length >= 1);
  const createdX = committed.filter((r) => r.body.entry.some((e: any) => e.response.status.startsWith('201') && e.response.location.includes(x)));
  assert.equal(createdX.length, 1);
  // All or nothing: each committed transaction wrote x and y alike (the same content, so a repeat of
  // the current one writes no version for either), so they have the same number of versions.
  const versions = async (id: string) => (await s.fhir(`/Patient/${id}/_history?_summary=count`)).body.total as number;
  const [vx, vy] = [await versions(x), await versions(y)];
  assert.equal(vx, vy);
  assert.ok(vx >= 1 && vx <= committed.length);
});
