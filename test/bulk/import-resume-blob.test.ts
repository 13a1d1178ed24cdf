import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestDb, type TestDb } from '../support/db.js';
import { adminToken, spawnHaven, type HavenProcess } from '../support/process.js';
import { freePort } from '../support/server.js';
import { kickoff, waitForManifest } from './support.js';

/**
 * kill -9 of the server while it imports a file of one of its own exports
 * (read from the encrypted blob store, whose segments cannot be seeked by
 * byte): after a restart the task resumes at the position saved with its last
 * committed batch, decrypting and skipping the bytes before it, so every line
 * is written exactly once — one new version and one audit entry per resource.
 */
const N = 5000;
/** Killed once this many are written: past the blob's first 256 KiB segment, so the resume skips a whole segment and part of the next. */
const KILL_AT = 2200;
let testDb: TestDb;
let dataDir: string;
let env: Record<string, string>;
let haven: HavenProcess | undefined;

before(async () => {
  testDb = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-import-blob-'));
  env = {
    DATABASE_URL: testDb.url, HAVEN_DATA_DIR: dataDir, HAVEN_PORT: String(await freePort()), HAVEN_LOG_LEVEL: 'warn',
    HAVEN_BULK_WORKERS: '1', HAVEN_BULK_LEASE_SECONDS: '2',
  };
});
after(async () => {
  if (haven && haven.proc.exitCode === null) haven.proc.kill('SIGKILL');
  await testDb.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const patientId = (i: number) => `blob-${String(i).padStart(5, '0')}`;

async function load(baseUrl: string, token: string, family: (i: number) => string): Promise<void> {
  for (let from = 0; from < N; from += 500) {
    const entry = Array.from({ length: Math.min(500, N - from) }, (_, k) => {
      const id = patientId(from + k);
      return { resource: { resourceType: 'Patient', id, name: [{ family: family(from + k) }] }, request: { method: 'PUT', url: `Patient/${id}` } };
    });
    const res = await fetch(`${baseUrl}/fhir`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry }),
    });
    assert.equal(res.status, 200, await res.text());
  }
}

/** Resources the import has written so far: their third version (the first two are the loads'). */
async function imported(): Promise<string[]> {
  const res = await testDb.db.query<{ id: string }>(`SELECT id FROM resource_version WHERE resource_type = 'Patient' AND id LIKE 'blob-%' AND version_id = 3 ORDER BY id`);
  return res.rows.map((r) => r.id);
}

test('a server killed mid-$import from the blob store resumes after restart; no line written twice', async (t) => {
  haven = await spawnHaven(env);
  let token = await adminToken(dataDir, haven.baseUrl);
  await load(haven.baseUrl, token, (i) => `Blob${i}`);
  const exported = await kickoff(`${haven.baseUrl}/fhir`, token, '$export?_type=Patient');
  assert.equal(exported.status, 202);
  const manifest = await waitForManifest(exported.headers.get('content-location')!, token, 60_000);
  assert.deepEqual(manifest.output.map((o) => o.count), [N]);
  const fileUrl = manifest.output[0]!.url;
  const fileText = await (await fetch(fileUrl, { headers: { authorization: `Bearer ${token}` } })).text();
  const lines = fileText.split(/(?<=\n)/);
  assert.equal(lines.length, N);
  // Changed after the export, so that each imported line is a change (an update equal to the current version writes none).
  await load(haven.baseUrl, token, (i) => `Later${i}`);

  const body = { resourceType: 'Parameters', parameter: [{ name: 'input', part: [{ name: 'type', valueCode: 'Patient' }, { name: 'url', valueUrl: fileUrl }] }] };
  const k = await kickoff(`${haven.baseUrl}/fhir`, token, '$import', { method: 'POST', body });
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const statusUrl = k.headers.get('content-location')!;
  const jobId = statusUrl.split('/').pop()!;
  while ((await imported()).length < KILL_AT) await new Promise((r) => setTimeout(r, 2));
  haven.proc.kill('SIGKILL');
  await haven.exited;

  const atKill = await imported();
  assert.ok(atKill.length < N, `the kill came mid-import (${atKill.length}/${N} written)`);
  // What was committed is a prefix of the file, and the saved position is exactly its end.
  const ids = lines.map((l) => (JSON.parse(l) as { id: string }).id);
  assert.deepEqual(atKill, ids.slice(0, atKill.length).sort());
  const task = await testDb.db.query<{ position: { offset: number; line: number; count: number } }>(`SELECT payload->'position' AS position FROM job_task WHERE job_id = $1`, [jobId]);
  const position = task.rows[0]!.position;
  assert.equal(position.line, atKill.length);
  assert.equal(position.offset, Buffer.byteLength(lines.slice(0, atKill.length).join('')));
  assert.ok(position.offset > 256 * 1024, `resumes past the first segment (${position.offset} bytes)`);

  haven = await spawnHaven(env);
  token = await adminToken(dataDir, haven.baseUrl);
  const done = (await waitForManifest(statusUrl, token, 90_000)) as unknown as { output: { count: number }[]; error: unknown[] };
  assert.deepEqual(done.output.map((o) => o.count), [N]);
  assert.deepEqual(done.error, []);
  const versions = await testDb.db.query<{ n: number; min: number; max: number }>(
    `SELECT count(*)::int AS n, min(v)::int AS min, max(v)::int AS max FROM (SELECT count(*) AS v FROM resource_version WHERE resource_type = 'Patient' AND id LIKE 'blob-%' GROUP BY id) s`,
  );
  assert.deepEqual(versions.rows[0], { n: N, min: 3, max: 3 }, 'the two loads and the import: three versions of each resource, no more');
  const audit = await testDb.db.query<{ entries: number; resources: number }>(
    `SELECT count(*)::int AS entries, count(DISTINCT patient_ids)::int AS resources FROM audit_entry WHERE request_id = $1`,
    [`bulk/${jobId}/1`],
  );
  // A Patient's entry names it as its patient: N distinct lists, one per resource.
  assert.deepEqual(audit.rows[0], { entries: N, resources: N }, 'one audit entry per imported resource');
  t.diagnostic(`killed after ${atKill.length}/${N} lines written; resumed at byte ${position.offset} of ${Buffer.byteLength(fileText)}`);
  haven.proc.kill('SIGTERM');
  await haven.exited;
});

test('an export cancelled while an import of its file waits: the input is refused with an error entry, not retried', async () => {
  haven = await spawnHaven(env);
  let token = await adminToken(dataDir, haven.baseUrl);
  const exported = await kickoff(`${haven.baseUrl}/fhir`, token, '$export?_type=Patient');
  const exportStatus = exported.headers.get('content-location')!;
  const manifest = await waitForManifest(exportStatus, token, 60_000);
  haven.proc.kill('SIGTERM');
  await haven.exited;

  // No workers: the import is queued, then its source export is deleted before it runs.
  haven = await spawnHaven({ ...env, HAVEN_BULK_WORKERS: '0' });
  token = await adminToken(dataDir, haven.baseUrl);
  const body = { resourceType: 'Parameters', parameter: [{ name: 'input', part: [{ name: 'type', valueCode: 'Patient' }, { name: 'url', valueUrl: manifest.output[0]!.url }] }] };
  const k = await kickoff(`${haven.baseUrl}/fhir`, token, '$import', { method: 'POST', body });
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const cancelled = await fetch(exportStatus, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
  assert.equal(cancelled.status, 202);
  haven.proc.kill('SIGTERM');
  await haven.exited;

  haven = await spawnHaven(env);
  token = await adminToken(dataDir, haven.baseUrl);
  const done = (await waitForManifest(k.headers.get('content-location')!, token, 30_000)) as unknown as { output: { count: number }[]; error: { url: string }[] };
  assert.deepEqual(done.output.map((o) => o.count), [0]);
  assert.equal(done.error.length, 1);
  const errors = await (await fetch(done.error[0]!.url, { headers: { authorization: `Bearer ${token}` } })).text();
  assert.match(errors, /BULK_IMPORT_INPUT_REFUSED: the export file no longer exists/);
  haven.proc.kill('SIGTERM');
  await haven.exited;
});
