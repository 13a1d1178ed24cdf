import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createFhirClient, readBootstrap } from '../../src/cli/client.js';
import { runSynth } from '../../src/cli/synth.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { adminToken, spawnHaven, type HavenProcess } from '../support/process.js';
import { freePort } from '../support/server.js';
import { downloadAll, key, kickoff, waitForManifest } from './support.js';

/**
 * kill -9 of the server in the middle of an export: after a restart the job
 * resumes from the durable queue (the dead node's lease lapses) and the files
 * hold every resource exactly once.
 */
let testDb: TestDb;
let dataDir: string;
let env: Record<string, string>;
let haven: HavenProcess | undefined;

before(async () => {
  testDb = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-bulk-resume-'));
  env = {
    DATABASE_URL: testDb.url,
    HAVEN_DATA_DIR: dataDir,
    HAVEN_PORT: String(await freePort()),
    HAVEN_LOG_LEVEL: 'warn',
    HAVEN_BULK_MAX_FILE_RESOURCES: '20',
    HAVEN_BULK_WORKERS: '1',
    HAVEN_BULK_LEASE_SECONDS: '2',
  };
});
after(async () => {
  if (haven && haven.proc.exitCode === null) haven.proc.kill('SIGKILL');
  await testDb.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function taskCounts(jobId: string) {
  const res = await testDb.db.query<{ done: number; total: number }>(
    `SELECT count(*) FILTER (WHERE status = 'done')::int AS done, count(*)::int AS total FROM job_task WHERE job_id = $1`,
    [jobId],
  );
  return res.rows[0]!;
}

test('a killed server resumes the export after restart; each resource exactly once', async () => {
  haven = await spawnHaven(env);
  await runSynth(createFhirClient(haven.baseUrl, await readBootstrap(dataDir)), { patients: 30, seed: 7, concurrency: 2 });
  let token = await adminToken(dataDir, haven.baseUrl);
  const k = await kickoff(`${haven.baseUrl}/fhir`, token, '$export');
  assert.equal(k.status, 202);
  const statusUrl = k.headers.get('content-location')!;
  const jobId = statusUrl.split('/').pop()!;
  for (;;) {
    const c = await taskCounts(jobId);
    if (c.done >= 3) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  haven.proc.kill('SIGKILL');
  await haven.exited;
  const atKill = await taskCounts(jobId);
  assert.ok(atKill.done < atKill.total, `the kill came mid-export (${atKill.done}/${atKill.total} tasks done)`);

  haven = await spawnHaven(env);
  token = await adminToken(dataDir, haven.baseUrl);
  const manifest = await waitForManifest(statusUrl.replace(/^http:\/\/[^/]+/, haven.baseUrl), token, 60_000);
  const exported = await downloadAll(manifest, token);
  const keys = exported.map(key);
  assert.equal(new Set(keys).size, keys.length, 'no resource twice');
  const stored = await testDb.db.query<{ k: string }>(`SELECT resource_type || '/' || id AS k FROM resource WHERE NOT deleted`);
  assert.deepEqual([...keys].sort(), stored.rows.map((r) => r.k).sort());
  haven.proc.kill('SIGTERM');
  await haven.exited;
});
