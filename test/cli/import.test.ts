import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFhirClient, readBootstrap } from '../../src/cli/client.js';
import { runImport } from '../../src/cli/import.js';
import { synthesize } from '../../src/synth/index.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
let dir: string;
before(async () => {
  s = await startTestServer();
  dir = mkdtempSync(join(tmpdir(), 'haven-import-'));
});
after(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('haven import: bundles and NDJSON, bad resources reported with reasons, re-running is safe', async () => {
  const bundle = synthesize({ patients: 1, seed: 3 }).next().value!;
  writeFileSync(join(dir, 'a-patient.json'), JSON.stringify(bundle));
  const lines = [
    JSON.stringify({ resourceType: 'Patient', id: 'nd-1', name: [{ family: 'Ndjson' }] }),
    '{ this is not json',
    JSON.stringify({ resourceType: 'Patient', id: 'nd-2', gender: 'robot' }),
    JSON.stringify({ resourceType: 'Patient', id: 'nd-3', name: [{ family: 'Ndjson' }] }),
  ];
  writeFileSync(join(dir, 'b-patients.ndjson'), `${lines.join('\n')}\n`);
  const client = createFhirClient(s.baseUrl, await readBootstrap(s.dataDir));

  const first = await runImport(client, dir);
  assert.equal(first.files, 2);
  assert.equal(first.resources, bundle.entry.length + 2);
  assert.equal(first.failed, 2);
  assert.deepEqual(first.failures.map((f) => f.where.replace(dir, '')).sort(), ['/b-patients.ndjson:2', '/b-patients.ndjson:3']);
  assert.match(first.failures.find((f) => f.where.endsWith(':3'))!.reason, /^422/);

  const count = async () => (await s.testDb.db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource WHERE NOT deleted')).rows[0]!.n;
  const stored = await count();
  const second = await runImport(client, dir);
  assert.equal(second.resources, first.resources);
  assert.equal(await count(), stored, 're-running created duplicates');
});
