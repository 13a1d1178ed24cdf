import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { auditKeysOf, patientsOf } from '../support/audit-keys.js';
import { exportAll, key } from '../bulk/support.js';

/**
 * Patient- and Group-level exports limited to named patients are planned and
 * read from those patients' compartments: a one-patient export of a large
 * store costs what it exports (chunks, page queries and rows read), and holds
 * exactly the system export's resources that belong to those patients.
 */
let s: TestServer;
let token: string;
const BACKGROUND = 24; // patients the scoped exports must not pay for
const background: string[] = [];
let pt: string;
let other: string;
let groupId: string;

/** Page queries the export workers ran (SQL and parameters), captured from the server's own pool. */
const pageQueries: { sql: string; params: unknown[] }[] = [];

async function create(resource: Record<string, unknown>): Promise<string> {
  const res = await s.fhir(`/${String(resource.resourceType)}`, { method: 'POST', json: resource });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body.id as string;
}

/** One transaction Bundle per patient: the patient, four Observations (one also performed by the patient), a Condition. */
async function patientWithData(family: string): Promise<string> {
  const entry = (resource: Record<string, unknown>, fullUrl?: string) => ({ ...(fullUrl ? { fullUrl } : {}), resource, request: { method: 'POST', url: String(resource.resourceType) } });
  const p = 'urn:uuid:00000000-0000-4000-8000-000000000001';
  const obs = (i: number) => ({ resourceType: 'Observation', status: 'final', code: { text: `x${i}` }, subject: { reference: p }, ...(i === 0 ? { performer: [{ reference: p }] } : {}) });
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [entry({ resourceType: 'Patient', name: [{ family }] }, p), ...[0, 1, 2, 3].map((i) => entry(obs(i))), entry({ resourceType: 'Condition', subject: { reference: p }, code: { text: 'c' } })],
  };
  const res = await s.fhir('', { method: 'POST', json: bundle });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const loc = (res.body.entry as { response: { location: string } }[])[0]!.response.location;
  return /Patient\/([^/]+)\/_history/.exec(loc)![1]!;
}

before(async () => {
  s = await startTestServer({ HAVEN_BULK_MAX_FILE_RESOURCES: '2' });
  token = await s.token('system/*.cruds');
  for (let i = 0; i < BACKGROUND; i++) background.push(await patientWithData(`Background${i}`));
  pt = await patientWithData('Target');
  other = await patientWithData('Other');
  await create({ resourceType: 'Organization', name: 'In no compartment' });
  groupId = await create({ resourceType: 'Group', type: 'person', actual: true, member: [{ entity: { reference: `Patient/${pt}` } }, { entity: { reference: `Patient/${other}` } }] });
  await s.testDb.db.query('ANALYZE');
  const db = s.testDb.db;
  const query = db.query.bind(db);
  db.query = ((...args: Parameters<typeof db.query>) => {
    const [sql, params] = args;
    if (typeof sql === 'string' && sql.startsWith('SELECT r.resource_type, r.id, r.version_id')) pageQueries.push({ sql, params: params ?? [] });
    return query(...args);
  }) as typeof db.query;
});
after(async () => s.close());

/** Does the resource belong to one of `patients`? (Every reference the fixtures make is a Patient compartment link.) */
function belongsTo(r: Record<string, any>, patients: string[]): boolean {
  if (r.resourceType === 'Patient') return patients.includes(r.id as string);
  const refs = JSON.stringify(r).match(/"reference":"Patient\/[^"]+"/g) ?? [];
  return refs.some((m) => patients.includes(m.slice('"reference":"Patient/'.length, -1)));
}

async function systemExportOf(patients: string[]): Promise<string[]> {
  // Two resources a file: about 80 files, slow on a loaded machine — and nothing may still run when the next test counts queries.
  const { resources } = await exportAll(s.fhirUrl, token, '$export?_type=Patient,Observation,Condition,Group,Organization', {}, 180_000);
  return resources.filter((r) => belongsTo(r, patients)).map(key).sort();
}

/** Rows of `resource` PostgreSQL read for a query (index or heap, kept or filtered out), from EXPLAIN ANALYZE. */
async function resourceRowsRead(q: { sql: string; params: unknown[] }): Promise<number> {
  const res = await s.testDb.db.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.sql}`, q.params);
  let rows = 0;
  const walk = (n: Record<string, any>) => {
    if (n['Relation Name'] === 'resource') rows += ((n['Actual Rows'] as number) + ((n['Rows Removed by Filter'] as number | undefined) ?? 0)) * (n['Actual Loops'] as number);
    for (const c of (n.Plans as Record<string, any>[] | undefined) ?? []) walk(c);
  };
  walk((res.rows[0]!['QUERY PLAN'] as { Plan: Record<string, any> }[])[0]!.Plan);
  return rows;
}

async function scoped(path: string, body?: unknown) {
  pageQueries.length = 0;
  const r = await exportAll(s.fhirUrl, token, path, body ? { method: 'POST', body } : {}, 120_000);
  const jobId = r.statusUrl.split('/').pop()!;
  const tasks = Number((await s.testDb.db.query<{ n: string }>(`SELECT count(*) AS n FROM job_task WHERE job_id = $1`, [jobId])).rows[0]!.n);
  let rowsRead = 0;
  const perQuery: string[] = []; // for the failure message: which type's page read too much
  for (const q of pageQueries) {
    const n = await resourceRowsRead(q);
    rowsRead += n;
    perQuery.push(`${String(q.params[1])}:${n}`);
  }
  return { ...r, jobId, tasks, pages: pageQueries.length, rowsRead, perQuery: perQuery.join(' ') };
}

const patientParam = (...ids: string[]) => ({ resourceType: 'Parameters', parameter: ids.map((id) => ({ name: 'patient', valueReference: { reference: `Patient/${id}` } })) });

test('a one-patient export holds what the system export holds of that patient', async () => {
  const r = await scoped('Patient/$export?_type=Patient,Observation,Condition,Group,Organization', patientParam(pt));
  assert.deepEqual(r.resources.map(key).sort(), await systemExportOf([pt]));
  assert.equal(r.resources.filter((x) => x.resourceType === 'Observation').length, 4, 'the Observation linked twice (subject, performer) once');
});

test('a one-patient export costs what it exports: chunks, page queries and rows read', async () => {
  const r = await scoped('Patient/$export?_type=Patient,Observation,Condition', patientParam(pt));
  // 1 Patient, 4 Observations, 1 Condition at 2 per file: 1 + 2 + 1 chunks, each one page
  // (a full page of 2 needs one more to see the end) — whatever the store holds besides.
  assert.equal(r.resources.length, 6);
  assert.equal(r.tasks, 4, `chunks: ${r.tasks}`);
  assert.ok(r.pages <= 8, `page queries: ${r.pages}`);
  assert.ok(r.rowsRead <= 3 * r.resources.length, `rows of resource read: ${r.rowsRead} for ${r.resources.length} exported (${r.perQuery})`);
});

test('Group/ID/$export: the members’ compartments, planned from the members; one audit entry per file with its patients', async () => {
  const r = await scoped(`Group/${groupId}/$export?_type=Patient,Observation,Condition`);
  assert.deepEqual(r.resources.map(key).sort(), (await systemExportOf([pt, other])).filter((k) => !k.startsWith('Group/')));
  assert.equal(r.tasks, 6, `chunks: ${r.tasks}`); // 2 Patients, 8 Observations, 2 Conditions at 2 per file: 1 + 4 + 1
  assert.ok(r.rowsRead <= 3 * r.resources.length, `rows of resource read: ${r.rowsRead} for ${r.resources.length} exported (${r.perQuery})`);
  const files = (await s.testDb.db.query<{ seq: number; patients: string[] }>(`SELECT seq, patient_ids AS patients FROM bulk_file WHERE job_id = $1 AND kind = 'output' ORDER BY seq`, [r.jobId])).rows;
  assert.equal(files.length, r.manifest.output.length);
  const union = new Set(files.flatMap((f) => f.patients));
  assert.deepEqual([...union].sort(), [pt, other].sort());
  const keys = auditKeysOf(s.testDb.db, s.dataDir);
  try {
    for (const f of files) {
      const entries = await keys.entries(`SELECT entry_id, canonical FROM audit_entry WHERE request_id = $1 AND action = 'operation'`, [`bulk/${r.jobId}/${f.seq}`]);
      assert.equal(entries.length, 1, `one entry for file ${f.seq}`);
      assert.deepEqual(patientsOf(entries[0]!).sort(), f.patients.map((p) => `Patient/${p}`).sort());
    }
  } finally {
    await keys.close();
  }
});

test('a patient with nothing exported and an unknown patient give empty files, not a scan', async () => {
  const r = await scoped('Patient/$export?_type=Observation', patientParam('no-such-patient'));
  assert.deepEqual(r.manifest.output, []);
  assert.equal(r.tasks, 0);
});
