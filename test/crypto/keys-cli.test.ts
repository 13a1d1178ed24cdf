import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseArgs } from '../../src/cli/args.js';
import { keysCommand } from '../../src/cli/keys.js';
import { loadConfig } from '../../src/config/index.js';
import { createEnvelopeCodec, createKeyring, createLocalKms, dekContext } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
before(async () => {
  s = await startTestServer();
});
after(() => s.close());

const env = () => ({ DATABASE_URL: s.testDb.url, HAVEN_DATA_DIR: s.dataDir, HAVEN_LOG_LEVEL: 'silent' });

test('haven keys rotate --kek re-wraps every DEK; data stays readable by running and restarted nodes', async () => {
  const created = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: 'Rotateson' }] } });
  assert.equal(created.status, 201);
  const id = created.body.id as string;
  const keyDir = join(s.dataDir, 'keys');
  assert.equal(statSync(join(keyDir, 'kek.key')).mode & 0o777, 0o600);
  const before = (await s.testDb.db.query<{ kek_id: string; wrapped: Buffer }>('SELECT kek_id, wrapped FROM data_key ORDER BY purpose')).rows;
  assert.ok(before.length >= 1); // resources, plus blind-index once protected search values are written
  const staleNode = createLocalKms({ dataDir: s.dataDir, env: 'test', logger: silentLogger });
  staleNode.describe(); // loads the pre-rotation KEK set

  const lines: string[] = [];
  const code = await keysCommand(parseArgs(['keys', 'rotate', '--kek']), loadConfig(env()), silentLogger, (l) => lines.push(l));
  assert.equal(code, 0);
  assert.match(lines[0]!, new RegExp(`^KEK rotated: local:[0-9a-f]{16} -> local:[0-9a-f]{16}; ${before.length} data key\\(s\\) re-wrapped$`));
  const after = (await s.testDb.db.query<{ kek_id: string; wrapped: Buffer; tenant_id: string; purpose: string }>('SELECT kek_id, wrapped, tenant_id, purpose FROM data_key ORDER BY purpose')).rows;
  assert.notEqual(after[0]!.kek_id, before[0]!.kek_id);
  assert.notDeepEqual(after[0]!.wrapped, before[0]!.wrapped);
  const files = readdirSync(keyDir).sort();
  assert.deepEqual(files, [`kek-${before[0]!.kek_id.slice('local:'.length)}.key`, 'kek.key']);
  for (const f of files) assert.equal(statSync(join(keyDir, f)).mode & 0o777, 0o600);

  // The running server (DEK cached) still reads; a node that loaded keys before the rotation
  // finds the new KEK; a restarted node decrypts the stored row.
  assert.equal((await s.fhir(`/Patient/${id}`)).body.name[0].family, 'Rotateson');
  assert.equal((await staleNode.unwrap(after[0]!.wrapped, dekContext(after[0]!.tenant_id, after[0]!.purpose))).length, 32);
  await staleNode.close();
  const restarted = createEnvelopeCodec({ keyring: createKeyring({ db: s.testDb.db, kms: createLocalKms({ dataDir: s.dataDir, env: 'test', logger: silentLogger }) }) });
  const row = (await s.testDb.db.query<{ content: Buffer }>('SELECT content FROM resource WHERE id = $1', [id])).rows[0]!;
  const json = await restarted.decode({ tenant: 'default', resourceType: 'Patient', id, versionId: 1 }, row.content);
  assert.match(json, /Rotateson/);
});

test('the haven binary runs keys status and rotate, printing no key material', async () => {
  const run = promisify(execFile);
  const opts = { env: { ...process.env, ...env() } };
  const status = await run(process.execPath, ['bin/haven.js', 'keys', 'status'], opts);
  assert.match(status.stdout, /^KMS: local local:[0-9a-f]{16}/);
  assert.match(status.stdout, /default\tresources\tv1\tactive\tlocal:/);
  const rotated = await run(process.execPath, ['bin/haven.js', 'keys', 'rotate', '--kek'], opts);
  assert.match(rotated.stdout, /KEK rotated/);
  const usage = await run(process.execPath, ['bin/haven.js', 'keys', 'rotate'], opts).catch((e: { code: number; stdout: string }) => e);
  assert.equal((usage as { code: number }).code, 64);
});
