import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createFhirClient, readBootstrap } from '../../src/cli/client.js';
import { runImport } from '../../src/cli/import.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf, patientsOf } from '../support/audit-keys.js';
import { download, downloadAll, exportAll, key, kickoff, otherClientToken, waitForManifest } from '../bulk/support.js';

/**
 * Bulk Data Access 2.0 export against a real server on real PostgreSQL: the
 * checks of the Bulk Data test kit, and the export compared with the database.
 */
let s: TestServer;
let token: string;
const DATA = '../shared/data/bulk-ndjson-10-patients';

before(async () => {
  s = await startTestServer({ HAVEN_BULK_MAX_FILE_RESOURCES: '500' });
  token = await s.token('system/*.cruds');
  const report = await runImport(createFhirClient(s.baseUrl, await readBootstrap(s.dataDir)), DATA);
  assert.ok(report.resources > 5000, `imported ${report.resources}, failed ${report.failed}`);
});
after(async () => s.close());

/** Every stored resource of `type`, as the search API returns it. */
async function searchAll(type: string, query = ''): Promise<Map<string, unknown>> {
  const out = new Map<string, unknown>();
  let url: string | undefined = `/${type}?_count=1000${query ? `&${query}` : ''}`;
  while (url) {
    const res = await s.fhir(url);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    for (const e of res.body.entry ?? []) if (e.search?.mode === 'match') out.set(key(e.resource), e.resource);
    const next: string | undefined = res.body.link?.find((l: { relation: string }) => l.relation === 'next')?.url;
    url = next?.slice(s.fhirUrl.length);
  }
  return out;
}

test('kick-off without a token is 401', async () => {
  const res = await kickoff(s.fhirUrl, null, '$export');
  assert.equal(res.status, 401);
  assert.equal(res.body.resourceType, 'OperationOutcome');
});

test('the CapabilityStatement declares the export operations', async () => {
  const cs = (await s.fhir('/metadata', { token: null })).body;
  assert.ok(cs.instantiates.includes('http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data'));
  assert.ok(cs.rest[0].operation.some((o: { name: string; definition: string }) => o.name === 'export' && o.definition.endsWith('/export')));
  const ops = (type: string) => cs.rest[0].resource.find((r: { type: string }) => r.type === type).operation.map((o: { definition: string }) => o.definition);
  assert.ok(ops('Patient').some((d: string) => d.endsWith('patient-export')));
  assert.ok(ops('Patient').some((d: string) => d.endsWith('Patient-everything')));
  assert.ok(ops('Group').some((d: string) => d.endsWith('group-export')));
});

test('_since must be a FHIR instant; _outputFormat accepts the three ndjson spellings only', async () => {
  for (const bad of ['2024-01-01', 'yesterday', '2024-13-01T00:00:00Z', '2024-01-01T00:00:00']) {
    const res = await kickoff(s.fhirUrl, token, `$export?_since=${encodeURIComponent(bad)}`);
    assert.equal(res.status, 400, bad);
    assert.equal(res.body.resourceType, 'OperationOutcome');
  }
  for (const format of ['application/fhir+ndjson', 'application/ndjson', 'ndjson']) {
    const res = await kickoff(s.fhirUrl, token, `$export?_type=Patient&_outputFormat=${encodeURIComponent(format)}`);
    assert.equal(res.status, 202, format);
  }
  assert.equal((await kickoff(s.fhirUrl, token, '$export?_outputFormat=text/csv')).status, 400);
  // A parameter given empty is a mistake to report, not "no types" (which read as a scope problem).
  for (const empty of ['_type=', '_type=,', '_elements=']) {
    const res = await kickoff(s.fhirUrl, token, `$export?${empty}`);
    assert.equal(res.status, 400, empty);
    assert.equal(res.body.issue[0].details.coding[0].code, 'BULK_BAD_PARAMETER', empty);
  }
  assert.equal((await kickoff(s.fhirUrl, token, '$export', { headers: { prefer: '' } })).status, 400);
});

test('system export: manifest, absolute urls, 429 on fast polls, tokenless download 401, NDJSON equals the database', async () => {
  const k = await kickoff(s.fhirUrl, token, '$export');
  assert.equal(k.status, 202);
  const statusUrl = k.headers.get('content-location')!;
  assert.match(statusUrl, /^http:\/\/127\.0\.0\.1:\d+\/bulk\/status\/[0-9a-f-]{36}$/);
  const first = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
  await first.text();
  if (first.status === 202) {
    assert.ok(first.headers.get('x-progress'));
    assert.ok(Number(first.headers.get('retry-after')) >= 1);
    const fast = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(fast.status, 429);
    assert.ok(fast.headers.get('retry-after'));
    assert.equal(((await fast.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
    await new Promise((r) => setTimeout(r, 1000));
  }
  const m = await waitForManifest(statusUrl, token);
  assert.ok(!Number.isNaN(Date.parse(m.transactionTime)));
  assert.equal(m.request, `${s.fhirUrl}/$export`);
  assert.equal(m.requiresAccessToken, true);
  assert.ok(Array.isArray(m.error));
  assert.ok(m.output.length > 0);
  for (const o of m.output) assert.match(o.url, /^http:\/\/127\.0\.0\.1:\d+\/bulk\/files\//);
  const tokenless = await fetch(m.output[0]!.url);
  assert.equal(tokenless.status, 401);
  await tokenless.text();

  const exported = await downloadAll(m, token);
  const seen = new Set<string>();
  for (const r of exported) {
    assert.ok(!seen.has(key(r)), `${key(r)} exported twice`);
    seen.add(key(r));
  }
  const types = [...new Set(exported.map((r) => r.resourceType))];
  assert.ok(types.length >= 8, types.join());
  const big = types.find((t) => exported.filter((r) => r.resourceType === t).length > 500);
  assert.ok(big, 'some type holds more than the 500-resource file limit');
  assert.ok(m.output.filter((o) => o.type === big).length > 1, `${big} is split over several files`);
  assert.ok(m.output.every((o) => o.count <= 500));
  let compared = 0;
  for (const type of types) {
    const stored = await searchAll(type);
    const mine = exported.filter((r) => r.resourceType === type);
    assert.equal(mine.length, stored.size, `${type}: count`);
    for (const r of mine) {
      assert.deepEqual(r, stored.get(key(r)), `${key(r)} differs from the database`);
      compared++;
    }
  }
  assert.equal(compared, exported.length);
});

test('status, manifest and files only for the client that started the export (others 404)', async () => {
  const { manifest, statusUrl } = await exportAll(s.fhirUrl, token, '$export?_type=Patient');
  const other = await otherClientToken(s.testDb.db, s.baseUrl, 'system/*.rs');
  const status = await fetch(statusUrl, { headers: { authorization: `Bearer ${other}` } });
  assert.equal(status.status, 404);
  await status.text();
  const file = await fetch(manifest.output[0]!.url, { headers: { authorization: `Bearer ${other}` } });
  assert.equal(file.status, 404);
  await file.text();
});

test('DELETE on the status URL is 202; then 404 with an OperationOutcome and the files are gone', async () => {
  const { manifest, statusUrl } = await exportAll(s.fhirUrl, token, '$export?_type=Patient,Condition');
  const del = await fetch(statusUrl, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  assert.equal(del.status, 202);
  await del.text();
  const again = await fetch(statusUrl, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(again.status, 404);
  assert.equal(((await again.json()) as { resourceType: string }).resourceType, 'OperationOutcome');
  const file = await fetch(manifest.output[0]!.url, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(file.status, 404);
  await file.text();
  const left = await s.testDb.db.query('SELECT count(*)::int AS n FROM bulk_file WHERE job_id = $1', [statusUrl.split('/').pop()]);
  assert.equal(left.rows[0]!.n, 0);
});

test('_since after updates holds exactly the changed resources', async () => {
  const before = await exportAll(s.fhirUrl, token, '$export?_type=Condition');
  const since = new Date(Date.parse(before.manifest.transactionTime) + 1).toISOString();
  await new Promise((r) => setTimeout(r, 20));
  const changed = before.resources.slice(0, 3);
  for (const r of changed) {
    const res = await s.fhir(`/Condition/${r.id}`, { method: 'PUT', json: { ...r, meta: undefined, note: [{ text: 'bulk test update' }] } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }
  const { resources } = await exportAll(s.fhirUrl, token, `$export?_type=Condition,Patient&_since=${encodeURIComponent(since)}`);
  assert.deepEqual(resources.map(key).sort(), changed.map(key).sort());
  for (const r of resources) assert.equal(r.note[0].text, 'bulk test update');
});

test('_typeFilter results equal the corresponding searches', async () => {
  const filters = ['Condition?clinical-status=active', 'Encounter?date=ge2015-01-01&status=finished'];
  const { resources, manifest } = await exportAll(s.fhirUrl, token, `$export?_type=Condition,Encounter,Patient&${filters.map((f) => `_typeFilter=${encodeURIComponent(f)}`).join('&')}`);
  for (const f of filters) {
    const [type, query] = f.split('?') as [string, string];
    const expected = [...(await searchAll(type, query)).keys()].sort();
    assert.ok(expected.length > 0, `${f} matches something`);
    assert.deepEqual(resources.filter((r) => r.resourceType === type).map(key).sort(), expected);
  }
  assert.equal(resources.filter((r) => r.resourceType === 'Patient').length, (await searchAll('Patient')).size, 'types without a filter are whole');
  assert.equal(manifest.error.length, 0);
});

test('POST kick-off with Parameters; _elements subsets; an unsupported includeAssociatedData is 400 unless lenient, then reported in the error file', async () => {
  const body = {
    resourceType: 'Parameters',
    parameter: [
      { name: '_type', valueString: 'Patient' },
      { name: '_elements', valueString: 'birthDate' },
      { name: 'includeAssociatedData', valueCode: '_notSupported' },
    ],
  };
  const strict = await kickoff(s.fhirUrl, token, '$export', { method: 'POST', body });
  assert.equal(strict.status, 400);
  assert.deepEqual(strict.body.issue[0].expression, ['includeAssociatedData']);
  assert.equal((await kickoff(s.fhirUrl, token, '$export?includeAssociatedData=RelevantProvenanceResources,_other')).status, 400);
  const lenient = { prefer: 'respond-async, handling=lenient' };
  const { resources, manifest } = await exportAll(s.fhirUrl, token, '$export', { method: 'POST', body, headers: lenient });
  assert.ok(resources.length > 0);
  for (const r of resources) {
    assert.equal(r.name, undefined);
    assert.ok(r.birthDate);
    assert.ok(r.meta.tag.some((t: { code: string }) => t.code === 'SUBSETTED'));
  }
  assert.equal(manifest.error.length, 1);
  const outcomes = await download(manifest.error[0]!.url, token);
  assert.match(outcomes[0]!.issue[0].diagnostics, /includeAssociatedData/);
});

test('scopes narrow the export; a token without read scopes is refused', async () => {
  const narrow = await s.token('system/Patient.rs');
  const { resources, manifest } = await exportAll(s.fhirUrl, narrow, '$export?_type=Patient,Condition');
  assert.deepEqual([...new Set(resources.map((r) => r.resourceType))], ['Patient']);
  assert.equal(manifest.error.length, 1);
  const writeOnly = await s.token('system/Patient.c');
  assert.equal((await kickoff(s.fhirUrl, writeOnly, '$export')).status, 403);
});

test('each output file has an audit entry naming the client and the patients in it', async () => {
  const { statusUrl, resources } = await exportAll(s.fhirUrl, token, '$export?_type=Patient');
  const jobId = statusUrl.split('/').pop()!;
  // Entries are format v2 (patients sealed, tags in patient_ids): read them opened, as an auditor does.
  const keys = auditKeysOf(s.testDb.db, s.dataDir);
  const entries = await keys.entries(`SELECT entry_id, canonical FROM audit_entry WHERE request_id LIKE $1 AND action = 'operation'`, [`bulk/${jobId}/%`]);
  await keys.close();
  const rows = { rows: entries };
  assert.ok(rows.rows.length >= 1);
  const patients = new Set(entries.flatMap(patientsOf));
  assert.deepEqual([...patients].sort(), resources.map(key).sort());
  const files = await s.testDb.db.query('SELECT count(*)::int AS n FROM bulk_file WHERE job_id = $1 AND kind = $2', [jobId, 'output']);
  assert.equal(rows.rows.length, files.rows[0]!.n);
});
