import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from '../../src/cli/args.js';
import { backupCommand } from '../../src/cli/backup-command.js';
import { keysCommand } from '../../src/cli/keys.js';
import { tenantCommand } from '../../src/cli/tenant.js';
import { loadConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
let work: string;
const extra: TestDb[] = [];
before(async () => {
  s = await startTestServer();
  work = mkdtempSync(join(tmpdir(), 'haven-keycmd-'));
});
after(async () => {
  for (const t of extra) await t.drop();
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

const env = (url = s.testDb.url) => ({ DATABASE_URL: url, HAVEN_DATA_DIR: s.dataDir, HAVEN_LOG_LEVEL: 'silent', HAVEN_DEK_REFRESH_SECONDS: '1' });
async function run(cmd: typeof keysCommand, argv: string[], url?: string): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await cmd(parseArgs(argv), loadConfig(env(url)), silentLogger, (l) => lines.push(l));
  return { code, lines };
}

test('haven keys rotate --dek, status and destroy-retired through the CLI entry points', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: `Cli${i}` }] } })).body.id);
  const rot = await run(keysCommand, ['keys', 'rotate', '--dek', '--tenant', 'default']);
  assert.equal(rot.code, 0);
  assert.match(rot.lines[0]!, /^DEK rotated: default resources v1 -> v2; job dek-resources-v2$/);
  const status = await run(keysCommand, ['keys', 'status']);
  assert.ok(status.lines.some((l) => /^default\tresources\tv1\tretired\t.*\trows=0$/.test(l)), status.lines.join('\n'));
  assert.ok(status.lines.some((l) => /^default\tresources\tv2\tactive\t.*\trows=10$/.test(l)), status.lines.join('\n'));
  assert.equal(status.lines.filter((l) => /^job default\/dek-resources-v2\t\w+\tdone\trewritten=/.test(l)).length, 3);
  const destroy = await run(keysCommand, ['keys', 'destroy-retired']);
  assert.deepEqual(destroy.lines.filter((l) => !l.startsWith('kept default/audit/')), ['destroyed default/resources/v1']);
  // The audit key rotated too (entries are sealed with it since format v2); its old version is kept for the entries it sealed.
  assert.ok(rot.lines.some((l) => /^DEK rotated: default audit v1 -> v2; no re-encryption/.test(l)), rot.lines.join('\n'));
  assert.ok(destroy.lines.some((l) => /^kept default\/audit\/v1: signed audit entries/.test(l)), destroy.lines.join('\n'));
  for (const id of ids) assert.equal((await s.fhir(`/Patient/${id}`)).status, 200);
});

test('haven backup and restore through the CLI; restore refuses a non-empty instance', async () => {
  const out = join(work, 'backup');
  const b = await run(backupCommand, ['backup', '--out', out]);
  assert.equal(b.code, 0, b.lines.join('\n'));
  assert.match(b.lines[0]!, /^backup [0-9a-f-]{36}: \d+ file\(s\), \d+ row\(s\)$/);
  assert.ok(readdirSync(out).includes('manifest.json'));
  await assert.rejects(run(backupCommand, ['restore', '--from', out]), /BACKUP_RESTORE_TARGET_NOT_EMPTY|already holds/);
  const t = await createTestDb();
  extra.push(t);
  // The tenants' backup DEKs stay in the source installation (format 2): restore reads them from there.
  await assert.rejects(run(backupCommand, ['restore', '--from', out], t.url), /BACKUP_KEY_UNAVAILABLE|--keys-from/);
  const r = await run(backupCommand, ['restore', '--from', out, '--keys-from', s.testDb.url], t.url);
  assert.equal(r.code, 0);
  const n = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource');
  assert.ok(Number(n.rows[0]!.n) >= 5);
});

test('haven tenant shred refuses the default tenant without --allow-default and shreds with --yes', async () => {
  await assert.rejects(run(tenantCommand, ['tenant', 'shred', 'default', '--yes']), /TENANT_SHRED_DEFAULT|--allow-default/);
  const notConfirmed = await run(tenantCommand, ['tenant', 'shred', 'default', '--allow-default']);
  assert.equal(notConfirmed.code, 1, 'no TTY, no --yes: nothing happens');
  assert.equal((await s.testDb.db.query(`SELECT 1 FROM data_key WHERE tenant_id = 'default' AND status = 'destroyed' AND wrapped IS NULL AND version = 2`)).rowCount, 0);
  const done = await run(tenantCommand, ['tenant', 'shred', 'default', '--allow-default', '--yes']);
  assert.equal(done.code, 0);
  assert.match(done.lines[0]!, /^Tenant default shredded: \d+ data key\(s\) destroyed/);
  const left = await s.testDb.db.query(`SELECT 1 FROM data_key WHERE tenant_id = 'default' AND status <> 'destroyed'`);
  assert.equal(left.rowCount, 0);
});
