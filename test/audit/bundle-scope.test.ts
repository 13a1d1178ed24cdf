import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { AuditEntry } from '../../src/audit/index.js';
import { auditKeysOf, patientsOf } from '../support/audit-keys.js';
import { putResources, startTestServer, type TestServer } from '../support/server.js';

/**
 * Searches and reads inside batch and transaction Bundles, through the real
 * HTTP server: each entry is audited as that request alone would be (a
 * search is ONE entry, its matches then its included resources), every
 * entry carries the Bundle request's id and `context: 'bundle'`, and nothing
 * is sent when the records cannot be made durable.
 */
let s: TestServer;

const resources = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Bundled' }], gender: 'female' },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] },
  { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Doc' }] },
  { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'a' }, subject: { reference: 'Patient/p1' }, performer: [{ reference: 'Practitioner/dr1' }] },
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'b' }, subject: { reference: 'Patient/p1' } },
  { resourceType: 'Observation', id: 'o3', status: 'final', code: { text: 'c' }, subject: { reference: 'Patient/p2' } },
  { resourceType: 'Provenance', id: 'pv1', recorded: '2024-01-01T00:00:00Z', target: [{ reference: 'Observation/o1' }], agent: [{ who: { reference: 'Practitioner/dr1' } }] },
];

before(async () => {
  s = await startTestServer();
  await putResources(s, resources);
});
after(async () => {
  await s?.close();
});

const get = (url: string) => ({ request: { method: 'GET', url } });
const bundleOf = (type: 'batch' | 'transaction', entry: object[]) => ({ resourceType: 'Bundle', type, entry });

async function lastEntryId(): Promise<number> {
  return Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
}

/** The opened entries recorded after `start` for one request id. */
async function entriesOf(start: number, requestId: string): Promise<AuditEntry[]> {
  const keys = auditKeysOf(s.testDb.db, s.dataDir);
  try {
    const all = await keys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [start]);
    return all.filter((e) => e.requestId === requestId);
  } finally {
    await keys.close();
  }
}

interface ResponseEntry {
  resource?: { resourceType: string; id: string; meta?: { versionId?: string }; entry?: { resource: { resourceType: string; id: string; meta: { versionId: string } }; search: { mode: string } }[] };
  response: { status: string };
}

/** What a searchset in a Bundle response returned: `Type/id/version`, matches then includes. */
const returned = (e: ResponseEntry) =>
  (e.resource?.entry ?? []).filter((x) => x.search.mode !== 'outcome').map((x) => `${x.resource.resourceType}/${x.resource.id}/${x.resource.meta.versionId}`);
const named = (e: AuditEntry) => e.resources.map((r) => `${r.type}/${r.id}/${r.version}`);

const searches = [
  get('Observation?_id=o1,o3&_include=Observation:subject'),
  get('Patient?_id=p1&_revinclude=Observation:subject&_revinclude=Provenance:target'),
];

for (const type of ['batch', 'transaction'] as const) {
  test(`${type}: each search entry is ONE search entry naming exactly what it returned, matches then includes`, async () => {
    const start = await lastEntryId();
    const requestId = `bundle-search-${type}`;
    const res = await s.fhir('', { method: 'POST', json: bundleOf(type, searches), headers: { 'x-request-id': requestId, 'x-purpose-of-use': 'TREAT' } });
    assert.equal(res.status, 200);
    const answered = res.body.entry as ResponseEntry[];
    assert.deepEqual(answered.map((e) => e.response.status), ['200 OK', '200 OK']);
    assert.deepEqual(returned(answered[0]!).map((r) => r.split('/').slice(0, 2).join('/')), ['Observation/o1', 'Observation/o3', 'Patient/p1', 'Patient/p2']);
    const mine = await entriesOf(start, requestId);
    assert.equal(mine.length, 2, 'one entry per search entry, not one per statement');
    for (const [i, entry] of mine.entries()) {
      assert.equal(entry.action, 'search');
      assert.equal(entry.outcome, 'success');
      assert.equal(entry.context, 'bundle');
      assert.equal(entry.why, 'TREAT');
      assert.deepEqual(named(entry), returned(answered[i]!), `entry ${i}: exactly the resources returned, in order`);
    }
    assert.deepEqual(patientsOf(mine[0]!).sort(), ['Patient/p1', 'Patient/p2']);
    assert.deepEqual(patientsOf(mine[1]!), ['Patient/p1']);
  });
}

test('batch: reads, vreads and history are one entry each, as alone; a failed entry is recorded as a failure', async () => {
  const start = await lastEntryId();
  const res = await s.fhir('', {
    method: 'POST',
    json: bundleOf('batch', [get('Patient/p2'), get('Observation/o1/_history/1'), get('Patient/p1/_history'), get('Patient/missing')]),
    headers: { 'x-request-id': 'bundle-reads' },
  });
  assert.equal(res.status, 200);
  assert.deepEqual((res.body.entry as ResponseEntry[]).map((e) => e.response.status), ['200 OK', '200 OK', '200 OK', '404 Not Found']);
  const mine = await entriesOf(start, 'bundle-reads');
  assert.deepEqual(
    mine.map((e) => [e.action, e.outcome, e.context, e.outcomeCode ?? null, e.resources.map((r) => `${r.type}/${r.id}`)]),
    [
      ['read', 'success', 'bundle', null, ['Patient/p2']],
      ['vread', 'success', 'bundle', null, ['Observation/o1']],
      ['history', 'success', 'bundle', null, ['Patient/p1']],
      ['read', 'failure', 'bundle', 'RESOURCE_NOT_FOUND', ['Patient/missing']],
    ],
  );
});

test('transaction: the writes keep their own entries (same commit), the search entry names what it returned', async () => {
  const start = await lastEntryId();
  const res = await s.fhir('', {
    method: 'POST',
    json: bundleOf('transaction', [
      { resource: { resourceType: 'Observation', status: 'final', code: { text: 'tx' }, subject: { reference: 'Patient/p2' } }, request: { method: 'POST', url: 'Observation' } },
      get('Patient?_id=p2&_revinclude=Observation:subject'),
    ]),
    headers: { 'x-request-id': 'bundle-tx-write' },
  });
  assert.equal(res.status, 200);
  const answered = res.body.entry as ResponseEntry[];
  const created = /Observation\/([^/]+)\/_history/.exec((answered[0]!.response as { location?: string }).location ?? '')![1]!;
  const mine = await entriesOf(start, 'bundle-tx-write');
  assert.deepEqual(mine.map((e) => e.action).sort(), ['create', 'search']);
  const search = mine.find((e) => e.action === 'search')!;
  assert.deepEqual(named(search), returned(answered[1]!));
  assert.deepEqual(mine.find((e) => e.action === 'create')!.resources.map((r) => `${r.type}/${r.id}`), [`Observation/${created}`]);
});

test('an included resource the granular scopes drop inside a Bundle search is not named (not sent, not disclosed)', async () => {
  const start = await lastEntryId();
  // Patient p1 (female) may be read, p2 may not; the include round reads both.
  const token = await s.token('system/Observation.rs system/Patient.rs?gender=female');
  const res = await s.fhir('', { method: 'POST', token, json: bundleOf('batch', [searches[0]!]), headers: { 'x-request-id': 'bundle-dropped' } });
  assert.equal(res.status, 200);
  const answered = res.body.entry as ResponseEntry[];
  assert.deepEqual(returned(answered[0]!).map((r) => r.split('/').slice(0, 2).join('/')), ['Observation/o1', 'Observation/o3', 'Patient/p1']);
  const mine = await entriesOf(start, 'bundle-dropped');
  assert.equal(mine.length, 1);
  assert.deepEqual(named(mine[0]!), returned(answered[0]!));
});

test('$disclosures lists a Bundle search once per patient, with only that patient\'s resources', async () => {
  const res = await s.fhir('', { method: 'POST', json: bundleOf('batch', [searches[0]!]), headers: { 'x-request-id': 'bundle-disclosed' } });
  assert.equal(res.status, 200);
  for (const [patient, expected] of [
    ['p1', ['Observation/o1', 'Patient/p1']],
    ['p2', ['Observation/o3', 'Patient/p2']],
  ] as const) {
    const report = await s.fhir(`/Patient/${patient}/$disclosures`);
    assert.equal(report.status, 200);
    const accesses = (report.body.accesses as { requestId: string; action: string; resources: string[] }[]).filter((a) => a.requestId === 'bundle-disclosed');
    assert.equal(accesses.length, 1, `Patient/${patient}: the Bundle's search is one access`);
    assert.equal(accesses[0]!.action, 'search');
    assert.deepEqual([...accesses[0]!.resources].sort(), expected);
  }
});

test('fail-closed: with the audit table unwritable, a Bundle with a search entry answers 503 and no PHI', async () => {
  const db = s.testDb.db;
  await db.query('ALTER TABLE audit_batch RENAME TO audit_batch_away');
  try {
    for (const type of ['batch', 'transaction'] as const) {
      const res = await s.fhir('', { method: 'POST', json: bundleOf(type, [...searches, get('Patient/p1')]) });
      assert.equal(res.status, 503, type);
      assert.equal(res.body.issue[0].details.coding[0].code, 'AUDIT_UNAVAILABLE', type);
      assert.equal(JSON.stringify(res.body).includes('Bundled'), false, `${type}: no PHI`);
    }
  } finally {
    await db.query('ALTER TABLE audit_batch_away RENAME TO audit_batch');
  }
  const again = await s.fhir('', { method: 'POST', json: bundleOf('batch', searches) });
  assert.equal(again.status, 200, 'audit works again once the table is back');
});
