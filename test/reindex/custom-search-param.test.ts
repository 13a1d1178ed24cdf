import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { eyeColorParam, patient, waitFor } from './support.js';

/** Custom SearchParameters over real HTTP and PostgreSQL: effect without restart, reindex, $reindex status, refusal. */
let s: TestServer;
const strict = { prefer: 'handling=strict' };

before(async () => {
  s = await startTestServer();
});
after(async () => {
  await s.close();
});

type Bundle = { total?: number; entry?: { resource: { resourceType: string; id: string }; search?: { mode: string } }[] };
const matches = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource.id);
const warnings = (b: Bundle) =>
  (b.entry ?? []).filter((e) => e.resource.resourceType === 'OperationOutcome').flatMap((e) => (e.resource as unknown as { issue: { diagnostics: string }[] }).issue.map((i) => i.diagnostics));

test('a custom SearchParameter indexes new writes at once, old data after the job, and goes away when deleted', async () => {
  const old: string[] = [];
  for (let i = 0; i < 12; i++) {
    const r = await s.fhir('/Patient', { method: 'POST', json: patient(`Old${i}`, i % 3 === 0 ? 'blue' : 'brown') });
    assert.equal(r.status, 201);
    if (i % 3 === 0) old.push(r.body.id);
  }
  const before = await s.fhir('/Patient?eyecolor=blue', { headers: strict });
  assert.equal(before.status, 400, 'unknown before it is defined');

  const listed = async () => {
    const meta = await s.fhir('/metadata', { token: null });
    const patientRes = (meta.body.rest[0].resource as { type: string; searchParam?: { name: string }[] }[]).find((r) => r.type === 'Patient');
    return (patientRes?.searchParam ?? []).some((p) => p.name === 'eyecolor');
  };
  assert.equal(await listed(), false);
  const sp = await s.fhir('/SearchParameter', { method: 'POST', json: eyeColorParam() });
  assert.equal(sp.status, 201);
  assert.equal(await listed(), true, 'the CapabilityStatement lists the new parameter');
  const fresh = await s.fhir('/Patient', { method: 'POST', json: patient('New', 'green') });
  // New writes are indexed at once (same node: no TTL wait).
  const green = await s.fhir('/Patient?eyecolor=green');
  assert.equal(green.status, 200);
  assert.deepEqual(matches(green.body), [fresh.body.id]);

  // Until the job has run, old data may be missing: a warning, or 400 under handling=strict.
  const pending = await s.fhir('/Patient?eyecolor=blue', { headers: strict });
  if (pending.status === 400) assert.match(JSON.stringify(pending.body), /SEARCH_PARAM_REINDEXING/);
  else assert.ok(warnings(pending.body).some((w) => /reindexed/.test(w)) || matches(pending.body).length === old.length);

  await waitFor(async () => (await s.fhir('/Patient?eyecolor=blue', { headers: strict })).status === 200);
  const blue = await s.fhir('/Patient?eyecolor=blue', { headers: strict });
  assert.deepEqual(matches(blue.body).sort(), [...old].sort());
  assert.deepEqual(warnings(blue.body).filter((w) => /reindexed/.test(w)), []);
  assert.equal(matches((await s.fhir('/Patient?eyecolor:not=brown&_count=100')).body).length, old.length + 1);

  const gone = await s.fhir(`/SearchParameter/${sp.body.id}`, { method: 'DELETE' });
  assert.ok(gone.status === 200 || gone.status === 204);
  const after = await s.fhir('/Patient?eyecolor=blue', { headers: strict });
  assert.equal(after.status, 400);
  assert.equal(await listed(), false, 'and no longer once deleted');
  assert.match(JSON.stringify(after.body), /SEARCH_UNKNOWN_PARAM/);
  const rows = await s.testDb.db.query(`SELECT 1 FROM idx_token WHERE param = 'eyecolor'`);
  assert.equal(rows.rowCount, 0, 'index rows of a deleted parameter are removed');
});

test('bad definitions are refused with 422 and take no effect', async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['FHIRPath that does not compile', { code: 'bad1', url: 'http://example.org/sp/bad1', expression: "Patient.extension.where(url='x'" }, /FHIRPath/],
    ['composite type', { code: 'bad2', url: 'http://example.org/sp/bad2', type: 'composite' }, /not supported/],
    ['unknown base', { code: 'bad3', url: 'http://example.org/sp/bad3', base: ['Starship'] }, /base|Starship/],
    ['clash with a built-in code', { code: 'name', url: 'http://example.org/sp/name' }, /built-in/],
    ['no expression', { code: 'bad4', url: 'http://example.org/sp/bad4', expression: undefined }, /expression/],
  ];
  for (const [label, overrides, message] of cases) {
    const r = await s.fhir('/SearchParameter', { method: 'POST', json: eyeColorParam(overrides) });
    assert.equal(r.status, 422, label);
    // The validator on write may refuse first (unknown base is not in its value set).
    assert.match(JSON.stringify(r.body), /SEARCH_PARAM_INVALID|code-invalid/, label);
    assert.match(JSON.stringify(r.body), message, label);
  }
  const n = await s.testDb.db.query('SELECT 1 FROM custom_search_param');
  assert.equal(n.rowCount, 0);
  // A second custom parameter may not take a code another one uses for the same base.
  assert.equal((await s.fhir('/SearchParameter', { method: 'POST', json: eyeColorParam({ url: 'http://example.org/sp/eye1' }) })).status, 201);
  const clash = await s.fhir('/SearchParameter', { method: 'POST', json: eyeColorParam({ url: 'http://example.org/sp/eye2' }) });
  assert.equal(clash.status, 422);
  // A draft is stored but not applied.
  assert.equal((await s.fhir('/SearchParameter', { method: 'POST', json: eyeColorParam({ url: 'http://example.org/sp/d', code: 'draft1', status: 'draft' }) })).status, 201);
  assert.equal((await s.fhir('/Patient?draft1=x', { headers: strict })).status, 400);
});

test('$reindex starts a job whose status reports progress as a Parameters resource', async () => {
  const start = await s.fhir('/Patient/$reindex', { method: 'POST' });
  assert.equal(start.body.resourceType, 'Parameters');
  assert.equal(start.status, 202);
  const location = start.headers.get('content-location')!;
  assert.match(location, /\/fhir\/\$reindex\/[0-9a-f-]{36}$/);
  const path = location.slice(location.indexOf('/fhir') + 5);
  let status = await s.fhir(path);
  await waitFor(async () => (status = await s.fhir(path)).status === 200);
  type Part = { name: string; valueCode?: string; valueInteger?: number };
  const p: Record<string, Part> = Object.fromEntries((status.body.parameter as Part[]).map((x) => [x.name, x]));
  assert.equal(p['status']?.valueCode, 'completed');
  const total = p['total']?.valueInteger ?? 0;
  assert.ok(total >= 13);
  assert.equal(p['processed']?.valueInteger, total);
  assert.equal((await s.fhir('/$reindex/00000000-0000-0000-0000-000000000000')).status, 404);
  const readOnly = await s.token('system/*.rs');
  assert.equal((await s.fhir('/$reindex', { method: 'POST', token: readOnly })).status, 403);
});

test('haven reindex --type T runs a job through the API and waits for it', async () => {
  const saved = process.env['HAVEN_DATA_DIR'];
  process.env['HAVEN_DATA_DIR'] = s.dataDir;
  try {
    assert.equal(await main(['reindex', '--type', 'Patient', '--url', s.baseUrl]), 0);
    assert.equal(await main(['reindex', '--type', 'not a type', '--url', s.baseUrl]), 1);
  } finally {
    if (saved === undefined) delete process.env['HAVEN_DATA_DIR'];
    else process.env['HAVEN_DATA_DIR'] = saved;
  }
  const jobs = await s.testDb.db.query<{ status: string }>(`SELECT status FROM reindex_job WHERE params IS NULL ORDER BY created_at DESC LIMIT 1`);
  assert.equal(jobs.rows[0]?.status, 'completed');
});
