import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { exportAll, kickoff, waitForManifest } from '../bulk/support.js';

/** $import: NDJSON files of an earlier export (already in the encrypted blob store) written back through the store. */
let s: TestServer;
let token: string;
const ids: string[] = [];

before(async () => {
  s = await startTestServer();
  token = await s.token('system/*.cruds');
  for (let i = 0; i < 5; i++) {
    const res = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: `Original${i}` }] } });
    ids.push(res.body.id);
  }
});
after(async () => s.close());

const importBody = (type: string, url: string) => ({
  resourceType: 'Parameters',
  parameter: [
    { name: 'inputFormat', valueCode: 'application/fhir+ndjson' },
    { name: 'input', part: [{ name: 'type', valueCode: type }, { name: 'url', valueUrl: url }] },
  ],
});

test('an export imported back restores the exported versions, audited as writes', async () => {
  const { manifest } = await exportAll(s.fhirUrl, token, '$export?_type=Patient');
  for (const id of ids) {
    const cur = (await s.fhir(`/Patient/${id}`)).body;
    assert.equal((await s.fhir(`/Patient/${id}`, { method: 'PUT', json: { ...cur, meta: undefined, name: [{ family: 'Changed' }] } })).status, 200);
  }
  const k = await kickoff(s.fhirUrl, token, '$import', { method: 'POST', body: importBody('Patient', manifest.output[0]!.url) });
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const result = (await waitForManifest(k.headers.get('content-location')!, token)) as unknown as { output: { type: string; inputUrl: string; count: number }[]; error: unknown[] };
  assert.deepEqual(result.output, [{ type: 'Patient', inputUrl: manifest.output[0]!.url, count: 5 }]);
  assert.deepEqual(result.error, []);
  for (const [i, id] of ids.entries()) assert.equal((await s.fhir(`/Patient/${id}`)).body.name[0].family, `Original${i}`);
  const audit = await s.testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_entry WHERE request_id LIKE $1 AND action = 'update'`, [`bulk/${k.headers.get('content-location')!.split('/').pop()}/%`]);
  assert.equal(audit.rows[0]!.n, 5);
});

test('$import refuses inputs that are not this client\'s export files, and needs Prefer: respond-async', async () => {
  const { manifest } = await exportAll(s.fhirUrl, token, '$export?_type=Patient');
  const url = manifest.output[0]!.url;
  assert.equal((await kickoff(s.fhirUrl, token, '$import', { method: 'POST', body: importBody('Observation', url) })).status, 400);
  assert.equal((await kickoff(s.fhirUrl, token, '$import', { method: 'POST', body: importBody('Patient', 'https://example.org/x.ndjson') })).status, 400);
  assert.equal((await kickoff(s.fhirUrl, token, '$import', { method: 'POST', body: importBody('Patient', url), headers: { prefer: '' } })).status, 400);
  const readOnly = await s.token('system/*.rs');
  assert.equal((await kickoff(s.fhirUrl, readOnly, '$import', { method: 'POST', body: importBody('Patient', url) })).status, 403);
});
