import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readBootstrap } from '../../src/cli/client.js';
import { runExport } from '../../src/cli/export.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** `haven export`: kick-off, wait, download every file. */
let s: TestServer;
const out = mkdtempSync(join(tmpdir(), 'haven-cli-export-'));
before(async () => {
  s = await startTestServer();
  for (let i = 0; i < 4; i++) assert.equal((await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: `Cli${i}` }] } })).status, 201);
});
after(async () => {
  await s.close();
  rmSync(out, { recursive: true, force: true });
});

test('haven export writes one NDJSON file per output with every resource', async () => {
  const result = await runExport(s.baseUrl, await readBootstrap(s.dataDir), { path: '$export', query: [['_type', 'Patient']], outDir: out });
  assert.equal(result.resources, 4);
  const files = readdirSync(out);
  assert.deepEqual(files, ['Patient.0.ndjson']);
  const lines = readFileSync(join(out, files[0]!), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { resourceType: string });
  assert.equal(lines.length, 4);
  assert.ok(lines.every((r) => r.resourceType === 'Patient'));
});
