import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer, putResources } from '../support/server.js';
import { auditKeysOf, patientsOf } from '../support/audit-keys.js';

/**
 * Includes, compartments and system-level search through the real HTTP
 * server: Bundle shape (search.mode, order, links), scopes, _elements,
 * _summary=count, form-encoded POST _search, and the error answers.
 */
let s: TestServer;

const resources = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'Incl' }], gender: 'female' },
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] },
  { resourceType: 'Practitioner', id: 'dr1', name: [{ family: 'Doc' }] },
  { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'a' }, subject: { reference: 'Patient/p1' }, performer: [{ reference: 'Practitioner/dr1' }] },
  { resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'b' }, subject: { reference: 'Patient/p1' }, hasMember: [{ reference: 'Observation/o1' }] },
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

interface Entry {
  fullUrl: string;
  resource: { resourceType: string; id: string; meta?: { tag?: { code: string }[] }; [k: string]: unknown };
  search: { mode: string };
}
const entries = (body: { entry?: Entry[] }) => (body.entry ?? []).filter((e) => e.search.mode !== 'outcome');
const keys = (body: { entry?: Entry[] }, mode: string) =>
  entries(body).filter((e) => e.search.mode === mode).map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();
const link = (body: { link?: { relation: string; url: string }[] }, relation: string) => body.link?.find((l) => l.relation === relation)?.url;

test('matches come first, then included resources once each with search.mode=include', async () => {
  const res = await s.fhir('/Observation?_id=o1,o2&_include=Observation:subject&_include=Observation:has-member&_revinclude=Provenance:target');
  assert.equal(res.status, 200);
  assert.deepEqual(keys(res.body, 'match'), ['Observation/o1', 'Observation/o2']);
  assert.deepEqual(keys(res.body, 'include'), ['Patient/p1', 'Provenance/pv1']);
  const modes = entries(res.body).map((e) => e.search.mode);
  assert.deepEqual(modes, ['match', 'match', 'include', 'include']);
  assert.equal(res.body.total, 2);
});

test('next and self links carry the include parameters; the next page includes for its own matches', async () => {
  const first = await s.fhir('/Observation?subject=Patient/p1&_include=Observation:performer&_revinclude:iterate=Provenance:target&_sort=_id&_count=1');
  assert.deepEqual(keys(first.body, 'match'), ['Observation/o1']);
  assert.deepEqual(keys(first.body, 'include'), ['Practitioner/dr1', 'Provenance/pv1']);
  for (const rel of ['self', 'next']) {
    const url = new URL(link(first.body, rel)!);
    assert.equal(url.searchParams.get('_include'), 'Observation:performer', rel);
    assert.equal(url.searchParams.get('_revinclude:iterate'), 'Provenance:target', rel);
  }
  const nextUrl = new URL(link(first.body, 'next')!);
  const second = await s.fhir(`${nextUrl.pathname.replace(/^\/fhir/, '')}${nextUrl.search}`);
  assert.deepEqual(keys(second.body, 'match'), ['Observation/o2']);
  assert.deepEqual(keys(second.body, 'include'), []);
});

test('_elements applies to matches and included resources, both marked SUBSETTED', async () => {
  const res = await s.fhir('/Observation?_id=o1&_include=Observation:subject&_elements=status,Patient.gender');
  const [match, inc] = entries(res.body);
  assert.equal(match?.resource.status, 'final');
  assert.equal(match?.resource['subject'], undefined);
  assert.equal(inc?.resource.gender, 'female');
  assert.equal(inc?.resource['name'], undefined);
  for (const e of [match, inc]) assert.ok(e?.resource.meta?.tag?.some((t) => t.code === 'SUBSETTED'));
});

test('included resources are limited to the types the token may read', async () => {
  const token = await s.token('system/Observation.rs');
  const res = await s.fhir('/Observation?_id=o1&_include=Observation:subject&_include=Observation:has-member&_revinclude=Observation:has-member', { token });
  assert.equal(res.status, 200);
  assert.deepEqual(keys(res.body, 'include'), ['Observation/o2']);
});

test('_summary=count answers the total without entries; _total=accurate adds it to a page', async () => {
  const count = await s.fhir('/Observation?subject=Patient/p1&_summary=count&_include=Observation:subject');
  assert.equal(count.body.total, 2);
  assert.equal(count.body.entry, undefined);
  const total = await s.fhir('/Observation?_count=1&_total=accurate');
  assert.equal(total.body.total, 3);
  assert.equal(entries(total.body).length, 1);
});

test('POST _search with a form body equals GET (type, compartment and system level)', async () => {
  const form = (q: string) => ({ method: 'POST', body: q, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const cases: [string, string, string][] = [
    ['/Observation?_id=o1,o2&_include=Observation:subject', '/Observation/_search', '_id=o1,o2&_include=Observation:subject'],
    ['/Patient/p1/Observation?_sort=_id', '/Patient/p1/Observation/_search', '_sort=_id'],
    ['/?_type=Patient,Practitioner&_id=p1,dr1', '/_search', '_type=Patient,Practitioner&_id=p1,dr1'],
  ];
  for (const [get, post, body] of cases) {
    const a = await s.fhir(get);
    const b = await s.fhir(post, form(body));
    assert.equal(b.status, 200, post);
    assert.deepEqual(entries(b.body).map((e) => [e.fullUrl, e.search.mode]), entries(a.body).map((e) => [e.fullUrl, e.search.mode]), post);
    assert.ok(entries(a.body).length > 0, get);
  }
});

test('compartment search: one type, and * across the compartment', async () => {
  const obs = await s.fhir('/Patient/p1/Observation');
  assert.deepEqual(keys(obs.body, 'match'), ['Observation/o1', 'Observation/o2']);
  assert.match(link(obs.body, 'self')!, /\/fhir\/Patient\/p1\/Observation/);
  const all = await s.fhir('/Patient/p1/*?_revinclude=Provenance:target');
  assert.deepEqual(keys(all.body, 'match'), ['Observation/o1', 'Observation/o2', 'Patient/p1']);
  assert.deepEqual(keys(all.body, 'include'), ['Provenance/pv1']);
  const dr = await s.fhir('/Practitioner/dr1/*');
  assert.deepEqual(keys(dr.body, 'match'), ['Observation/o1', 'Practitioner/dr1', 'Provenance/pv1']);
  assert.equal((await s.fhir('/Basic/p1/Observation')).status, 404);
  const outside = await s.fhir('/Patient/p1/Practitioner');
  assert.equal(outside.status, 404);
  assert.equal(outside.body.issue[0].details.coding[0].code, 'COMPARTMENT_UNKNOWN');
});

test('system-level search: _type, all readable types, and scopes', async () => {
  const typed = await s.fhir('?_type=Patient,Practitioner&_id=p1,dr1,o1&_sort=_id');
  assert.deepEqual(entries(typed.body).map((e) => e.fullUrl.split('/fhir/')[1]), ['Practitioner/dr1', 'Patient/p1']);
  const untyped = await s.fhir('?_id=p1,dr1,o1');
  assert.deepEqual(keys(untyped.body, 'match'), ['Observation/o1', 'Patient/p1', 'Practitioner/dr1']);
  const token = await s.token('system/Patient.rs');
  const narrowed = await s.fhir('?_id=p1,dr1,o1', { token });
  assert.deepEqual(keys(narrowed.body, 'match'), ['Patient/p1']);
  assert.equal((await s.fhir('?_type=Observation', { token })).status, 403);
});

test('a bad _contained value and unknown include parameters are answered with an OperationOutcome', async () => {
  const contained = await s.fhir('/Patient?_contained=yes');
  assert.equal(contained.status, 400);
  assert.equal(contained.body.issue[0].details.coding[0].code, 'SEARCH_INVALID_VALUE');
  const bad = await s.fhir('/Observation?_include=Observation:status');
  assert.equal(bad.status, 400);
  assert.equal(bad.body.issue[0].details.coding[0].code, 'SEARCH_INVALID_VALUE');
});

test('the CapabilityStatement declares includes, revincludes, compartments and system search', async () => {
  const res = await s.fhir('/metadata', { token: null });
  const rest = res.body.rest[0];
  const byType = (t: string) => rest.resource.find((r: { type: string }) => r.type === t);
  assert.ok(byType('Observation').searchInclude.includes('Observation:subject'));
  assert.ok(byType('Observation').searchInclude.includes('Observation:*'));
  assert.ok(byType('Patient').searchRevInclude.includes('Observation:subject'));
  assert.ok(byType('Questionnaire').searchRevInclude.includes('QuestionnaireResponse:questionnaire'));
  assert.ok(rest.compartment.includes('http://hl7.org/fhir/CompartmentDefinition/patient'));
  assert.ok(rest.interaction.some((i: { code: string }) => i.code === 'search-system'));
});

test('a search with _include and _revinclude is ONE audit entry naming every match and included resource; disclosures find it per patient', async () => {
  const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
  // Three statements (page, include round, revinclude round), two patients among the results.
  const res = await s.fhir('/Observation?_id=o1,o3&_include=Observation:subject&_revinclude=Provenance:target', { headers: { 'x-request-id': 'incl-audit' } });
  assert.equal(res.status, 200);
  assert.deepEqual(keys(res.body, 'include'), ['Patient/p1', 'Patient/p2', 'Provenance/pv1']);
  // Entries are format v2 (ids sealed): read them opened, as an auditor does.
  const auditKeys = auditKeysOf(s.testDb.db, s.dataDir);
  const all = await auditKeys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before]);
  await auditKeys.close();
  const mine = all.filter((e) => e.requestId === 'incl-audit');
  assert.equal(mine.length, 1, 'one entry for the request, not one per statement');
  const [entry] = mine;
  assert.equal(entry!.action, 'search');
  assert.equal(entry!.outcome, 'success');
  assert.deepEqual(entry!.resources.map((r) => `${r.type}/${r.id}`).sort(), ['Observation/o1', 'Observation/o3', 'Patient/p1', 'Patient/p2', 'Provenance/pv1']);
  assert.deepEqual(patientsOf(entry!).sort(), ['Patient/p1', 'Patient/p2']);
  for (const [patient, named] of [
    ['p1', ['Observation/o1', 'Patient/p1', 'Provenance/pv1']],
    ['p2', ['Observation/o3', 'Patient/p2', 'Provenance/pv1']],
  ] as const) {
    const report = await s.fhir(`/Patient/${patient}/$disclosures`);
    assert.equal(report.status, 200);
    const accesses = (report.body.accesses as { requestId: string; action: string; resources: string[] }[]).filter((a) => a.requestId === 'incl-audit');
    assert.equal(accesses.length, 1, `Patient/${patient}: the search is one access`);
    assert.equal(accesses[0]!.action, 'search');
    assert.deepEqual([...accesses[0]!.resources].sort(), named, `Patient/${patient}: its own resources (and those naming no patient)`);
  }
});

test('a search whose page is empty, or that only counts, is still one entry naming the type', async () => {
  for (const [path, requestId] of [
    ['/Observation?_id=none&_include=Observation:subject', 'incl-empty'],
    ['/Observation?subject=Patient/p1&_summary=count&_include=Observation:subject', 'incl-count'],
  ] as const) {
    const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
    const res = await s.fhir(path, { headers: { 'x-request-id': requestId } });
    assert.equal(res.status, 200);
    const auditKeys = auditKeysOf(s.testDb.db, s.dataDir);
    const mine = (await auditKeys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before])).filter((e) => e.requestId === requestId);
    await auditKeys.close();
    assert.equal(mine.length, 1, requestId);
    assert.equal(mine[0]!.action, 'search');
    assert.deepEqual(mine[0]!.resources.map((r) => r.type), ['Observation'], requestId);
  }
});

test('an included resource the scopes drop after reading it is not named in the search entry (not sent, not disclosed)', async () => {
  const before = Number((await s.testDb.db.query<{ n: string }>('SELECT coalesce(max(entry_id), 0) AS n FROM audit_entry')).rows[0]!.n);
  // Granular scope on Patient: p1 (female) may be read, p2 (no gender) may not; both are read by the include round.
  const token = await s.token('system/Observation.rs system/Patient.rs?gender=female');
  const res = await s.fhir('/Observation?_id=o1,o3&_include=Observation:subject', { token, headers: { 'x-request-id': 'incl-dropped' } });
  assert.equal(res.status, 200);
  assert.deepEqual(keys(res.body, 'include'), ['Patient/p1']);
  const auditKeys = auditKeysOf(s.testDb.db, s.dataDir);
  const mine = (await auditKeys.entries('SELECT entry_id, canonical FROM audit_entry WHERE entry_id > $1 ORDER BY entry_id', [before])).filter((e) => e.requestId === 'incl-dropped');
  await auditKeys.close();
  assert.equal(mine.length, 1);
  assert.deepEqual(mine[0]!.resources.map((r) => `${r.type}/${r.id}`).sort(), ['Observation/o1', 'Observation/o3', 'Patient/p1']);
});
