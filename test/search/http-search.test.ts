import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/server.js';
import { edgeCases } from './conformance-data.js';

/**
 * The search criteria of this issue end to end: resources written through the
 * REST API (so extraction, the index writer and migration 007 run for real),
 * searched over HTTP, and rewritten to show the index follows the resource.
 */
let s: TestServer;
before(async () => {
  s = await startTestServer();
  for (const r of edgeCases) {
    const res = await s.fhir(`/${String(r['resourceType'])}/${String(r['id'])}`, { method: 'PUT', json: r });
    assert.ok(res.status === 200 || res.status === 201, `PUT ${String(r['id'])}: ${res.status}`);
  }
});
after(async () => {
  await s?.close();
});

async function ids(path: string): Promise<string[]> {
  const res = await s.fhir(path);
  assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body)}`);
  const entries = (res.body.entry ?? []) as { resource: { id: string }; search?: { mode?: string } }[];
  return entries.filter((e) => e.search?.mode !== 'include').map((e) => e.resource.id).sort();
}

test('chain, _has and :identifier over HTTP', async () => {
  assert.deepEqual(await ids('/Observation?subject:Patient.organization.partof.name=regional'), ['cf-o1', 'cf-o3', 'cf-o6', 'cf-o9']);
  assert.deepEqual(await ids('/Patient?_has:Observation:patient:code=2345-7'), ['cf-p1', 'cf-p2', 'cf-p3']);
  assert.deepEqual(await ids('/Observation?subject:identifier=urn:mrn%7CM1'), ['cf-o7']);
  assert.deepEqual(await ids('/Observation?subject.name=regional'), await ids('/Observation?subject:Patient.name=regional'));
  const ambiguous = await s.fhir('/Observation?focus.type=x');
  assert.equal(ambiguous.status, 400);
  assert.equal(ambiguous.body.resourceType, 'OperationOutcome');
  assert.match(JSON.stringify(ambiguous.body), /SEARCH_CHAIN_AMBIGUOUS/);
});

test('composite and UCUM over HTTP; rewriting a component moves the match', async () => {
  const q = '/Observation?component-code-value-quantity=http://loinc.org%7C8462-4$gt100';
  assert.deepEqual(await ids(q), ['cf-o2']);
  assert.deepEqual(await ids('/Observation?value-quantity=5.4%7Chttp://unitsofmeasure.org%7Cmg'), ['cf-o3', 'cf-o4']);
  const o1 = structuredClone(edgeCases.find((r) => r['id'] === 'cf-o1')) as { component: { valueQuantity: { value: number } }[] };
  o1.component[1]!.valueQuantity.value = 101;
  assert.equal((await s.fhir('/Observation/cf-o1', { method: 'PUT', json: o1 })).status, 200);
  assert.deepEqual(await ids(q), ['cf-o1', 'cf-o2']);
});

test(':in / :not-in with an R4 core value set that is not stored use its expansion; an unknown value set is refused, not an empty match', async () => {
  const vitals = 'http://hl7.org/fhir/ValueSet/observation-vitalsignresult';
  assert.deepEqual(await ids(`/Observation?code:in=${vitals}`), ['cf-o1', 'cf-o2']);
  assert.deepEqual(await ids(`/Observation?code:not-in=${vitals}&subject=Patient/cf-p1`), ['cf-o3', 'cf-o6', 'cf-o9']);
  assert.deepEqual(await ids(`/Patient?_has:Observation:patient:code:in=${vitals}`), ['cf-p1', 'cf-p2']);
  for (const path of ['/Observation?code:in=http://example.org/fhir/ValueSet/nowhere', '/Patient?_has:Observation:patient:code:not-in=http://example.org/fhir/ValueSet/nowhere']) {
    const res = await s.fhir(path);
    assert.equal(res.status, 400, path);
    assert.equal(res.body.issue[0].details.coding[0].code, 'SEARCH_VALUESET_UNKNOWN');
  }
});

test(':in follows the stored ValueSet; :of-type; POST _search equals GET', async () => {
  const url = 'http://example.org/fhir/ValueSet/glucose-and-local';
  assert.deepEqual(await ids(`/Observation?code:in=${url}&subject=Patient/cf-p1`), ['cf-o3', 'cf-o6', 'cf-o9']);
  const vs = { resourceType: 'ValueSet', id: 'cf-vs1', url, status: 'active', compose: { include: [{ system: 'urn:local', concept: [{ code: 'x1' }] }] } };
  assert.equal((await s.fhir('/ValueSet/cf-vs1', { method: 'PUT', json: vs })).status, 200);
  assert.deepEqual(await ids(`/Observation?code:in=${url}&subject=Patient/cf-p1`), ['cf-o9']);
  assert.deepEqual(await ids('/Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203%7CDL%7CM1'), ['cf-p2']);
  const posted = await s.fhir('/Patient/_search', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams([['_has:Observation:patient:code', '2345-7'], ['_list', 'cf-list1']]).toString(),
  });
  assert.equal(posted.status, 200);
  const postedIds = ((posted.body.entry ?? []) as { resource: { id: string } }[]).map((e) => e.resource.id).sort();
  assert.deepEqual(postedIds, ['cf-p1', 'cf-p3']);
  assert.deepEqual(await ids('/Patient?_has:Observation:patient:code=2345-7&_list=cf-list1'), ['cf-p1', 'cf-p3']);
});
