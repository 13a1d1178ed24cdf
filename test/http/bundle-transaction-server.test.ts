import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { putResources, startTestServer, type TestServer } from '../support/server.js';

/**
 * Transaction Bundles through the real server's router (the composition root's
 * wrappers included, which test/http/bundle.test.ts's harness does not have):
 * entries that go through the router — searches, reads, PATCH — run inside the
 * Bundle's database transaction.
 */
let s: TestServer;

before(async () => {
  s = await startTestServer();
  const patients = [
    { resourceType: 'Patient', id: 'p2', name: [{ family: 'Other' }] },
    { resourceType: 'Patient', id: 'p3', name: [{ family: 'Before' }] },
  ];
  await putResources(s, patients);
});
after(async () => {
  await s?.close();
});

interface BundleJson {
  entry: { response: { status: string }; resource?: { total?: number; entry?: { resource: { resourceType: string }; search?: { mode: string } }[] } }[];
}

test('searches in a transaction see what its earlier entries wrote, included resources too', async () => {
  const res = await s.fhir('', {
    method: 'POST',
    json: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { request: { method: 'GET', url: 'Patient?_id=p2&_revinclude=Observation:subject' } },
        { request: { method: 'GET', url: 'Observation?subject=Patient/p2' } },
        { fullUrl: 'urn:uuid:6f1c2a64-1d7e-4f3a-9d55-2b0a7c1e9f01', resource: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/p2' } }, request: { method: 'POST', url: 'Observation' } },
      ],
    },
  });
  assert.equal(res.status, 200);
  const [include, match] = (res.body as BundleJson).entry;
  // R4 processes GETs after the writes, whatever their place in the Bundle.
  assert.deepEqual(include!.resource!.entry!.map((e) => [e.resource.resourceType, e.search?.mode]), [['Patient', 'match'], ['Observation', 'include']]);
  assert.equal(match!.resource!.total, 1);
});

test('a PATCH entry is undone with the rest of a transaction that fails', async () => {
  const patch = Buffer.from(JSON.stringify([{ op: 'replace', path: '/name/0/family', value: 'Patched' }])).toString('base64');
  const res = await s.fhir('', {
    method: 'POST',
    json: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: { resourceType: 'Binary', contentType: 'application/json-patch+json', data: patch }, request: { method: 'PATCH', url: 'Patient/p3' } },
        { request: { method: 'GET', url: 'Patient/no-such-patient' } },
      ],
    },
  });
  assert.equal(res.status, 404, JSON.stringify(res.body));
  const p3 = await s.fhir('/Patient/p3');
  assert.equal((p3.body as { name: { family: string }[] }).name[0]!.family, 'Before');
  assert.equal((p3.body as { meta: { versionId: string } }).meta.versionId, '1');
});
