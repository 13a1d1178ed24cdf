import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { auditKeysOf } from '../support/audit-keys.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { call, createUser, putRole, userToken } from './access-support.js';

/**
 * `_contained` / `_containedType` (R4 search, contained resources) over real
 * HTTP and PostgreSQL: contained resources are indexed with their container's
 * write (migration 042), found only when asked for, returned as their
 * container or alone, follow the container's updates and deletion, are
 * audited as the container, and are refused to row-limited callers.
 */
let s: TestServer;
const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';

const med = (id: string, code: string, extra: Record<string, unknown> = {}) => ({ resourceType: 'Medication', id, code: { coding: [{ system: RX, code }] }, ...extra });

/** A MedicationRequest whose medication is its first contained Medication; the others are named by an extension (dom-3). */
function request(id: string, contained: Record<string, unknown>[]) {
  return {
    resourceType: 'MedicationRequest',
    id,
    status: 'active',
    intent: 'order',
    subject: { reference: 'Patient/p1' },
    medicationReference: { reference: `#${String(contained[0]!['id'])}` },
    ...(contained.length > 1
      ? { extension: contained.slice(1).map((c) => ({ url: 'http://example.org/fhir/StructureDefinition/alternative', valueReference: { reference: `#${String(c['id'])}` } })) }
      : {}),
    contained,
  };
}

const resources = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Real' }] },
  { resourceType: 'Organization', id: 'maker', name: 'Maker Inc' },
  med('own1', 'A'),
  request('mr1', [med('m1', 'A', { manufacturer: { reference: 'Organization/maker' } }), med('m2', 'B')]),
  request('mr2', [med('m3', 'A')]),
  {
    resourceType: 'Observation',
    id: 'obs1',
    status: 'final',
    code: { text: 'note' },
    subject: { reference: '#pt' },
    contained: [{ resourceType: 'Patient', id: 'pt', name: [{ family: 'Taylor' }] }],
  },
];

before(async () => {
  s = await startTestServer({ HAVEN_ENV: 'test' });
  for (const r of resources) {
    const res = await s.fhir(`/${r.resourceType}/${r.id}`, { method: 'PUT', json: r });
    assert.ok(res.status === 201 || res.status === 200, `PUT ${r.resourceType}/${r.id}: ${res.status} ${JSON.stringify(res.body)}`);
  }
});
after(async () => s?.close());

interface Entry {
  fullUrl: string;
  resource: { resourceType: string; id: string };
  search: { mode: string };
}

async function page(path: string): Promise<{ urls: string[]; body: any }> {
  const res = await s.fhir(path);
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
  const entries = (res.body.entry ?? []) as Entry[];
  return { urls: entries.filter((e) => e.search.mode === 'match').map((e) => e.fullUrl.slice(s.fhirUrl.length + 1)), body: res.body };
}

test('by default contained resources are not matches; _contained=true finds them and returns their containers once each', async () => {
  assert.deepEqual((await page('/Medication?code=A')).urls, ['Medication/own1']);
  assert.deepEqual((await page('/Patient?name=Taylor')).urls, [], 'a contained Patient is no Patient of its own');
  assert.deepEqual((await page('/Medication?code=A&_contained=false')).urls, ['Medication/own1']);
  const containers = await page('/Medication?code=A&_contained=true');
  assert.deepEqual(containers.urls, ['MedicationRequest/mr1', 'MedicationRequest/mr2']);
  assert.equal(containers.body.entry[0].resource.contained.length, 2, 'the container is returned whole');
  // mr1 holds two Medications: still one entry, and the total counts containers.
  const all = await page('/Medication?_contained=true&_total=accurate');
  assert.deepEqual(all.urls, ['MedicationRequest/mr1', 'MedicationRequest/mr2']);
  assert.equal(all.body.total, 2);
  assert.deepEqual((await page('/Medication?code=A&_contained=both')).urls, ['Medication/own1', 'MedicationRequest/mr1', 'MedicationRequest/mr2']);
});

test('_containedType=contained returns each contained resource alone, addressed inside its container', async () => {
  const alone = await page('/Medication?code=A&_contained=true&_containedType=contained');
  assert.deepEqual(alone.urls, ['MedicationRequest/mr1#m1', 'MedicationRequest/mr2#m3']);
  const first = alone.body.entry[0].resource;
  assert.equal(first.resourceType, 'Medication');
  assert.equal(first.id, 'm1');
  assert.equal(first.code.coding[0].code, 'A');
  assert.deepEqual((await page('/Medication?code=A&_contained=both&_containedType=contained')).urls, ['Medication/own1', 'MedicationRequest/mr1#m1', 'MedicationRequest/mr2#m3']);
  const counted = await page('/Medication?_contained=true&_containedType=contained&_total=accurate');
  assert.equal(counted.body.total, 3);
  const countOnly = await page('/Medication?_contained=both&_containedType=contained&_summary=count');
  assert.deepEqual([countOnly.body.total, countOnly.urls], [4, []]);
  assert.equal((await page('/Medication?_contained=true&_count=0')).body.total, 2, 'containers, each once');
  assert.deepEqual((await page('/Medication?_contained=true&_containedType=contained&_sort=-code')).urls, ['MedicationRequest/mr1#m2', 'MedicationRequest/mr1#m1', 'MedicationRequest/mr2#m3']);
});

test('paging walks the contained matches with stable next links', async () => {
  const seen: string[] = [];
  let path: string | undefined = '/Medication?_contained=true&_containedType=contained&_count=2';
  while (path) {
    const p = await page(path);
    seen.push(...p.urls);
    const next = (p.body.link as { relation: string; url: string }[]).find((l) => l.relation === 'next');
    assert.ok(!next || next.url.includes('_contained=true'), 'the next link keeps _contained');
    path = next ? next.url.slice(s.fhirUrl.length) : undefined;
  }
  assert.deepEqual(seen, ['MedicationRequest/mr1#m1', 'MedicationRequest/mr1#m2', 'MedicationRequest/mr2#m3']);
});

test('blind-indexed parameters of contained resources are searched by their tags', async () => {
  assert.deepEqual((await page('/Patient?name=Taylor&_contained=true')).urls, ['Observation/obs1']);
  assert.deepEqual((await page('/Patient?name=taylor&_contained=true&_containedType=contained')).urls, ['Observation/obs1#pt']);
  assert.deepEqual((await page('/Patient?name=Real&_contained=true')).urls, []);
  const leaked = await s.testDb.db.query("SELECT 1 FROM idx_string WHERE resource_type = 'Patient' AND value_norm LIKE 'taylor%'");
  assert.equal(leaked.rowCount, 0, 'the contained Patient\'s name is stored as tags only');
});

test('_include follows the references of contained results', async () => {
  const res = await s.fhir('/Medication?code=A&_contained=true&_containedType=contained&_include=Medication:manufacturer');
  assert.equal(res.status, 200);
  const included = (res.body.entry as Entry[]).filter((e) => e.search.mode === 'include').map((e) => `${e.resource.resourceType}/${e.resource.id}`);
  assert.deepEqual(included, ['Organization/maker']);
});

test('chains follow local references into contained resources; _has finds contained targets', async () => {
  // R4: "a chained condition will be evaluated inside contained resources".
  assert.deepEqual((await page('/MedicationRequest?medication.code=A')).urls, ['MedicationRequest/mr1', 'MedicationRequest/mr2']);
  assert.deepEqual((await page('/MedicationRequest?medication.code=B')).urls, [], 'm2 is contained in mr1 but is not its medication');
  assert.deepEqual((await page('/Observation?subject:Patient.name=Taylor')).urls, ['Observation/obs1']);
  assert.deepEqual((await page('/Observation?subject.name=Taylor')).urls, ['Observation/obs1']);
  assert.deepEqual((await page('/Observation?patient.name=Taylor')).urls, ['Observation/obs1'], 'resolve() is Patient knows the contained subject\'s type');
  assert.deepEqual((await page('/Observation?patient=Patient/p1')).urls, [], 'a contained subject is not the stored Patient/p1');
  assert.deepEqual((await page('/Patient?_has:Observation:subject:status=final&_contained=true&_containedType=contained')).urls, ['Observation/obs1#pt']);
  assert.deepEqual((await page('/Patient?_has:Observation:subject:status=final')).urls, [], 'no stored Patient is the subject');
  // A contained resource counts as a referring resource too: the report's own Observation is about Patient/p1.
  const report = {
    resourceType: 'DiagnosticReport', id: 'dr1', status: 'final', code: { text: 'panel' }, subject: { reference: 'Patient/p1' },
    result: [{ reference: '#r1' }],
    contained: [{ resourceType: 'Observation', id: 'r1', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '2345-7' }] }, subject: { reference: 'Patient/p1' } }],
  };
  assert.equal((await s.fhir('/DiagnosticReport/dr1', { method: 'PUT', json: report })).status, 201);
  assert.deepEqual((await page('/Patient?_has:Observation:subject:code=2345-7')).urls, ['Patient/p1']);
  assert.deepEqual((await page('/DiagnosticReport?result.code=2345-7')).urls, ['DiagnosticReport/dr1']);
  assert.deepEqual((await page('/Observation?code=2345-7')).urls, [], 'but never a result of its own');
  assert.deepEqual((await page('/Patient/p1/Observation')).urls, [], 'nor a member of the compartment');
  const local = await s.testDb.db.query("SELECT 1 FROM idx_reference WHERE url LIKE '#%'");
  assert.equal(local.rowCount, 0, 'a local reference is stored as its target\'s key, never as a url');
});

test('a contained resource\'s references to a sibling (#id) and to its container (#) are indexed, typed ones too', async () => {
  // The report's subject and its contained result's subject are both the contained Patient cp.
  const report = {
    resourceType: 'DiagnosticReport', id: 'dr2', status: 'final', code: { text: 'panel' }, subject: { reference: '#cp' },
    result: [{ reference: '#co' }],
    contained: [
      { resourceType: 'Patient', id: 'cp', name: [{ family: 'Sibling' }] },
      { resourceType: 'Observation', id: 'co', status: 'final', code: { text: 'inner' }, subject: { reference: '#cp' } },
    ],
  };
  assert.equal((await s.fhir('/DiagnosticReport/dr2', { method: 'PUT', json: report })).status, 201);
  // `patient` is Observation.subject.where(resolve() is Patient): the sibling's type must be known.
  assert.deepEqual((await page('/Observation?patient.family=Sibling&_contained=true&_containedType=contained')).urls, ['DiagnosticReport/dr2#co']);
  assert.deepEqual((await page('/Observation?subject:Patient.family=Sibling&_contained=true')).urls, ['DiagnosticReport/dr2']);
  assert.deepEqual((await page('/Patient?_has:Observation:patient:code:text=inner&_contained=true&_containedType=contained')).urls, ['DiagnosticReport/dr2#cp']);
  // `#` alone names the container (R4 "References", contained resources): dom-3 is met by the reference back.
  const outer = {
    resourceType: 'Observation', id: 'oc', status: 'final', code: { text: 'outer' },
    contained: [{ resourceType: 'Observation', id: 'inner', status: 'final', code: { text: 'derived' }, derivedFrom: [{ reference: '#' }] }],
  };
  const put = await s.fhir('/Observation/oc', { method: 'PUT', json: outer });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  assert.deepEqual((await page('/Observation?derived-from=Observation/oc&_contained=true&_containedType=contained')).urls, ['Observation/oc#inner']);
  assert.deepEqual((await page('/Observation?derived-from=Observation/oc')).urls, [], 'the contained one is no result of its own');
});

test('the search audit entry names the containers that were read, with their versions', async () => {
  const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
  await page('/Medication?code=B&_contained=true&_containedType=contained');
  const auditKeys = auditKeysOf(s.testDb.db, s.dataDir);
  const searches = (await auditKeys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before])).filter((e) => e.action === 'search');
  await auditKeys.close();
  assert.equal(searches.length, 1);
  assert.deepEqual(searches[0]!.resources.map((r) => `${r.type}/${r.id}/${r.version}`), ['MedicationRequest/mr1/1']);
});

test('what a contained search cannot answer is refused with an OperationOutcome', async () => {
  const cases: [string, number, string][] = [
    ['/Medication?_contained=true&_id=m1', 400, 'SEARCH_UNSUPPORTED_PARAM'],
    ['/Medication?_contained=true&_sort=code', 400, 'SEARCH_UNSUPPORTED_PARAM'],
    ['/Medication?_contained=both&_containedType=contained&_sort=code', 400, 'SEARCH_UNSUPPORTED_PARAM'],
    ['/?_type=Medication,Patient&_contained=true', 400, 'SEARCH_UNSUPPORTED_PARAM'],
    ['/Patient/p1/MedicationRequest?_contained=true', 400, 'SEARCH_UNSUPPORTED_PARAM'],
    ['/Medication?_contained=maybe', 400, 'SEARCH_INVALID_VALUE'],
    ['/Medication?_containedType=inside', 400, 'SEARCH_INVALID_VALUE'],
  ];
  for (const [path, status, code] of cases) {
    const res = await s.fhir(path);
    assert.equal(res.status, status, path);
    assert.equal(res.body.resourceType, 'OperationOutcome');
    assert.equal(res.body.issue[0].details.coding[0].code, code, path);
  }
});

test('conditional interactions refuse _contained: a contained match is not a resource to act on', async () => {
  const update = await s.fhir('/Medication?code=A&_contained=true', { method: 'PUT', json: med('x', 'A') });
  assert.equal(update.status, 400);
  assert.equal(update.body.issue[0].details.coding[0].code, 'CONDITIONAL_CONTAINED');
  const create = await s.fhir('/Medication', { method: 'POST', json: med('y', 'A'), headers: { 'if-none-exist': 'code=A&_contained=both' } });
  assert.equal(create.status, 400);
  assert.equal(create.body.issue[0].details.coding[0].code, 'CONDITIONAL_CONTAINED');
  assert.equal((await s.fhir('/MedicationRequest/mr1')).body.resourceType, 'MedicationRequest', 'the container is untouched');
});

test('callers limited to a compartment or by criteria are refused; scopes leave out containers of types they cannot read', async () => {
  const patientApp = await userToken(s, await createUser(s, ['clerk']), ['patient/*.rs'], 'p1');
  const refused = await call(s, 'GET', '/fhir/Patient?name=Taylor&_contained=true', patientApp);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.issue[0].details.coding[0].code, 'SEARCH_CONTAINED_RESTRICTED');
  assert.equal((await putRole(s, 'med-clerk', { policies: [{ resourceType: 'Medication', interactions: ['read', 'search'], criteria: 'code=A' }] })).status, 201);
  const clerk = await userToken(s, await createUser(s, ['med-clerk']));
  assert.equal((await call(s, 'GET', '/fhir/Medication?_contained=both', clerk)).status, 403);
  const medsOnly = await s.token('system/Medication.rs');
  const narrow = await s.fhir('/Medication?_contained=both&_containedType=contained', { token: medsOnly });
  assert.equal(narrow.status, 200);
  assert.deepEqual((narrow.body.entry as Entry[]).map((e) => e.fullUrl.slice(s.fhirUrl.length + 1)), ['Medication/own1'], 'no MedicationRequest is read for a caller who may not search them');
  const both = await s.token('system/Medication.rs system/MedicationRequest.rs');
  const wide = await s.fhir('/Medication?code=A&_contained=true', { token: both });
  assert.equal(wide.body.entry.length, 2);
});

test('a container\'s update replaces its contained matches and its deletion removes them', async () => {
  assert.equal((await s.fhir('/MedicationRequest/mr2', { method: 'PUT', json: request('mr2', [med('m9', 'C')]) })).status, 200);
  assert.deepEqual((await page('/Medication?code=A&_contained=true')).urls, ['MedicationRequest/mr1']);
  assert.deepEqual((await page('/Medication?code=C&_contained=true&_containedType=contained')).urls, ['MedicationRequest/mr2#m9']);
  const plain = { ...request('mr2', [med('m9', 'C')]), medicationReference: undefined, extension: undefined, contained: undefined, medicationCodeableConcept: { text: 'none' } };
  assert.equal((await s.fhir('/MedicationRequest/mr2', { method: 'PUT', json: JSON.parse(JSON.stringify(plain)) })).status, 200);
  assert.deepEqual((await page('/Medication?_contained=true')).urls, ['MedicationRequest/mr1']);
  assert.equal((await s.fhir('/MedicationRequest/mr1', { method: 'DELETE' })).status, 200);
  assert.deepEqual((await page('/Medication?_contained=both')).urls, ['Medication/own1']);
  const rows = await s.testDb.db.query<{ n: string }>(
    "SELECT (SELECT count(*) FROM contained_resource WHERE container_type = 'MedicationRequest') + (SELECT count(*) FROM idx_token WHERE resource_id LIKE 'MedicationRequest/%#%') AS n",
  );
  assert.equal(Number(rows.rows[0]!.n), 0, 'no contained row or index row is left behind');
});

test('a full $reindex indexes the contained resources of containers stored without them', async () => {
  // As if obs1 had been written before contained resources were indexed.
  await s.testDb.db.query("DELETE FROM idx_string WHERE resource_id = 'Observation/obs1#pt'");
  await s.testDb.db.query("DELETE FROM contained_resource WHERE container_id = 'obs1'");
  await s.testDb.db.query("DELETE FROM idx_reference WHERE resource_id = 'Observation/oc#inner'");
  assert.deepEqual((await page('/Patient?name=Taylor&_contained=true')).urls, []);
  assert.deepEqual((await page('/Observation?derived-from=Observation/oc&_contained=true')).urls, []);
  const start = await s.fhir('/Observation/$reindex', { method: 'POST' });
  assert.equal(start.status, 202);
  const location = start.headers.get('content-location')!;
  const path = location.slice(location.indexOf('/fhir') + 5);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await s.fhir(path);
    const state = (status.body.parameter as { name: string; valueCode?: string }[] | undefined)?.find((p) => p.name === 'status')?.valueCode;
    if (state === 'completed') break;
    assert.ok(Date.now() < deadline, `reindex still ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual((await page('/Patient?name=Taylor&_contained=true')).urls, ['Observation/obs1']);
  assert.deepEqual((await page('/Observation?derived-from=Observation/oc&_contained=true')).urls, ['Observation/oc'], 'a reindexed contained resource\'s `#` still names its container');
});
