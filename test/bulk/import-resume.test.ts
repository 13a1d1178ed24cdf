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
 * after a restart the durable task is taken again and resumes at the position
 * saved with its last committed batch (a Range request, or bytes skipped when
 * the source ignores ranges), so every line is written exactly once: one
 * version and one audit entry per resource.
 */
const N = 3000;
let testDb: TestDb;
let dataDir: string;
let source: Server;
let haven: HavenProcess | undefined;
const requests: { path: string; range: string | undefined }[] = [];

const line = (prefix: string, i: number) => `${JSON.stringify({ resourceType: 'Patient', id: `${prefix}-${i}`, name: [{ family: `Slow${i}` }] })}\n`;
const file = (prefix: string) => Buffer.from(Array.from({ length: N }, (_, i) => line(prefix, i)).join(''));
const files: Record<string, Buffer> = { '/ranged.ndjson': file('ranged'), '/plain.ndjson': file('plain') };

before(async () => {
  testDb = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-import-resume-'));
  // Sends 8 KiB every 20 ms, so the import is still running when the server is killed. /ranged
  // honours Range (206) with an ETag; /plain always sends the whole file (200).
  source = createServer((req, res) => {
    const body = files[req.url ?? ''];
    requests.push({ path: req.url ?? '', range: req.headers.range });
    if (!body) return void res.writeHead(404).end();
    const ranged = req.url === '/ranged.ndjson';
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = ranged && m && req.headers['if-range'] === '"v1"' ? Number(m[1]) : 0;
    res.writeHead(from > 0 ? 206 : 200, {
      'content-type': 'application/fhir+ndjson',
      ...(ranged ? { etag: '"v1"', 'accept-ranges': 'bytes' } : {}),
      ...(from > 0 ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
    });
    let at = from;
    const tick = setInterval(() => {
      res.write(body.subarray(at, at + 8192));
      at += 8192;
      if (at >= body.length) {
        clearInterval(tick);
        res.end();
      }
    }, 20);
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

async function stored(prefix: string): Promise<number> {
  const res = await testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM resource WHERE resource_type = 'Patient' AND id LIKE $1 AND NOT deleted`, [`${prefix}-%`]);
  return res.rows[0]!.n;
}

/** Versions per resource (history) and audit entries of the import: exactly one each when no line was written twice. */
async function writesOf(prefix: string, jobId: string) {
  const versions = await testDb.db.query<{ n: number; max: number }>(
    `SELECT count(*)::int AS n, coalesce(max(v), 0)::int AS max FROM (SELECT count(*) AS v FROM resource_version WHERE resource_type = 'Patient' AND id LIKE $1 GROUP BY id) s`,
    [`${prefix}-%`],
  );
  const audit = await testDb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_entry WHERE request_id = $1`, [`bulk/${jobId}/1`]);
  return { resources: versions.rows[0]!.n, maxVersions: versions.rows[0]!.max, auditEntries: audit.rows[0]!.n };
}

async function killAndResume(prefix: string, path: string) {
  const origin = `http://127.0.0.1:${(source.address() as AddressInfo).port}`;
  const env = {
    DATABASE_URL: testDb.url, HAVEN_DATA_DIR: dataDir, HAVEN_PORT: String(await freePort()), HAVEN_LOG_LEVEL: 'warn',
    HAVEN_BULK_WORKERS: '1', HAVEN_BULK_LEASE_SECONDS: '2', HAVEN_IMPORT_ALLOWED_ORIGINS: origin,
  };
  haven = await spawnHaven(env);
  let token = await adminToken(dataDir, haven.baseUrl);
  const body = { resourceType: 'Parameters', parameter: [{ name: 'input', part: [{ name: 'type', valueCode: 'Patient' }, { name: 'url', valueUrl: `${origin}${path}` }] }] };
  const k = await kickoff(`${haven.baseUrl}/fhir`, token, '$import', { method: 'POST', body });
  assert.equal(k.status, 202, JSON.stringify(k.body));
  const statusUrl = k.headers.get('content-location')!;
  while ((await stored(prefix)) < 500) await new Promise((r) => setTimeout(r, 5));
  haven.proc.kill('SIGKILL');
  await haven.exited;
  const atKill = await stored(prefix);
  assert.ok(atKill < N, `the kill came mid-import (${atKill}/${N} stored)`);

  haven = await spawnHaven(env);
  token = await adminToken(dataDir, haven.baseUrl);
  const m = (await waitForManifest(statusUrl.replace(/^http:\/\/[^/]+/, haven.baseUrl), token, 90_000)) as unknown as { output: { count: number }[]; error: unknown[] };
  assert.deepEqual(m.output.map((o) => o.count), [N]);
  assert.deepEqual(m.error, []);
  assert.equal(await stored(prefix), N);
  const writes = await writesOf(prefix, statusUrl.split('/').pop()!);
  assert.deepEqual(writes, { resources: N, maxVersions: 1, auditEntries: N }, 'each line written once');
  haven.proc.kill('SIGTERM');
  await haven.exited;
  return { atKill, pulls: requests.filter((r) => r.path === path) };
}

test('a server killed mid-$import resumes with a Range request after restart; no line written twice', async (t) => {
  const { atKill, pulls } = await killAndResume('ranged', '/ranged.ndjson');
  assert.equal(pulls.length, 2);
  assert.equal(pulls[0]!.range, undefined);
  const from = Number(/^bytes=(\d+)-$/.exec(pulls[1]!.range ?? '')?.[1]);
  // The position commits with its batch: the resume point is exactly the end of the last line stored at the kill.
  const expected = Array.from({ length: atKill }, (_, i) => Buffer.byteLength(line('ranged', i))).reduce((a, b) => a + b, 0);
  assert.equal(from, expected, `resumed at byte ${from} after ${atKill} stored lines`);
  t.diagnostic(`killed after ${atKill}/${N} lines stored; resumed at byte ${from} of ${files['/ranged.ndjson']!.length}`);
});

test('a source that ignores Range is read again and the imported bytes skipped; no line written twice', async (t) => {
  const { atKill, pulls } = await killAndResume('plain', '/plain.ndjson');
  assert.equal(pulls.length, 2);
  assert.match(pulls[1]!.range ?? '', /^bytes=[1-9]\d*-$/);
  t.diagnostic(`killed after ${atKill}/${N} lines stored; asked again with ${pulls[1]!.range}`);
});
