import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createTestDb, type TestDb } from '../support/db.js';
import { adminToken, spawnHaven, type HavenProcess } from '../support/process.js';
import { freePort } from '../support/server.js';
import { kickoff, waitForManifest } from './support.js';

/**
 * kill -9 of the server while it pulls an $import input from another server:
 * after a restart the durable task is taken again, the input is pulled anew and
 * every resource ends up stored once (writes are by id).
 */
const N = 1200;
let testDb: TestDb;
let dataDir: string;
let source: Server;
let haven: HavenProcess | undefined;
let pulls = 0;

const line = (i: number) => `${JSON.stringify({ resourceType: 'Patient', id: `slow-${i}`, name: [{ family: `Slow${i}` }] })}\n`;

before(async () => {
  testDb = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-import-resume-'));
  // Sends 100 lines every 50 ms, so the import is still running when the server is killed.
  source = createServer((_req, res) => {
    pulls++;
    res.writeHead(200, { 'content-type': 'application/fhir+ndjson' });
    let i = 0;
    const tick = setInterval(() => {
      let chunk = '';
      for (let k = 0; k < 100 && i < N; k++) chunk += line(i++);
      res.write(chunk);
      if (i >= N) {
        clearInterval(tick);
        res.end();
      }
    }, 50);
    res.on('close', () => clearInterval(tick));
  });
  await new Promise<void>((r) => source.listen(0, '127.0.0.1', () => r()));
});
after(async () => {
  if (haven && haven.proc.exitCode === null) haven.proc.kill('SIGKILL');
  source.close();
  await testDb.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function storedSlow(): Promise<number> {
  const res = await testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Patient' AND id LIKE 'slow-%' AND NOT deleted`);
  return res.rows[0]!.n;
}

test('a server killed mid-$import resumes the pull after restart; each resource stored once', async () => {
  const origin = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
  const env = {
    DATABASE_URL: testDb.url, HAVEN_DATA_DIR: dataDir, HAVEN_PORT: String(await freePort()), HAVEN_LOG_LEVEL: 'warn',
    HAVEN_BULK_WORKERS: '1', HAVEN_BULK_LEASE_SECONDS: '2', HAVEN_IMPORT_ALLOWED_ORIGINS: origin,
  };
  haven = await spawnHaven(env);
  let token = await adminToken(dataDir, haven.baseUrl);
  const body = { resourceType: 'Parameters', parameter: [{ name: 'input', part: [{ name: 'type', valueCode: 'Patient' }, { name: 'url', valueUrl: `${origin}/patients.ndjson` }] }] };
  const k = await kickoff(`${haven.baseUrl}/fhir`, token, '$import', { method: 'POST', body });
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const statusUrl = k.headers.get('content-location')!;
  while ((await storedSlow()) < 200) await new Promise((r) => setTimeout(r, 5));
  haven.proc.kill('SIGKILL');
  await haven.exited;
  const atKill = await storedSlow();
  assert.ok(atKill < N, `the kill came mid-import (${atKill}/${N} stored)`);

  haven = await spawnHaven(env);
  token = await adminToken(dataDir, haven.baseUrl);
  const m = (await waitForManifest(statusUrl.replace(/^http:\/\/[^/]+/, haven.baseUrl), token, 60_000)) as unknown as { output: { count: number }[]; error: unknown[] };
  assert.deepEqual(m.output.map((o) => o.count), [N]);
  assert.deepEqual(m.error, []);
  assert.equal(await storedSlow(), N);
  assert.ok(pulls >= 2, 'the input was pulled again after the restart');
  haven.proc.kill('SIGTERM');
  await haven.exited;
});
