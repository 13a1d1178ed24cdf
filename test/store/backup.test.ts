import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSequencer, verifyAuditLog } from '../../src/audit/index.js';
import { createEnvelopeCodec, createKeyring, createLocalKms, type Kms } from '../../src/crypto/index.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { createBackup } from '../../src/store/backup/backup.js';
import { createLocalBlobStore, keyringSealer } from '../../src/store/blob-store.js';
import { restoreBackup } from '../../src/store/backup/restore.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
let kms: Kms;
let work: string;
let backupDir: string;
const CANARY = 'Zqxcanaryfamily';
const targets: TestDb[] = [];

before(async () => {
  s = await startTestServer();
  kms = createLocalKms({ dataDir: s.dataDir, env: 'test', logger: silentLogger });
  work = mkdtempSync(join(tmpdir(), 'haven-backup-'));
  for (let i = 0; i < 12; i++) {
    const c = await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: `${CANARY}${i}` }] } });
    assert.equal(c.status, 201);
    await s.fhir(`/Patient/${c.body.id}`, { method: 'PUT', json: { resourceType: 'Patient', id: c.body.id, name: [{ family: `${CANARY}v2` }] } });
    await s.fhir(`/Patient/${c.body.id}`);
  }
  const blobs = createLocalBlobStore({ dir: join(s.dataDir, 'blobs'), sealer: keyringSealer(createKeyring({ db: s.testDb.db, kms })) });
  const w = await blobs.create('default', 'exports/job1/Patient.ndjson');
  await w.write(`{"resourceType":"Patient","name":[{"family":"${CANARY}blob"}]}\n`);
  await w.close();
  const sequencer = createSequencer({ db: s.testDb.db, clock: systemClock, logger: silentLogger, witnessPath: join(work, 'witness.jsonl'), intervalMs: 60_000 });
  assert.ok((await sequencer.drain()) > 0, 'audit entries sequenced into the Merkle log');
  await sequencer.stop();
  backupDir = join(work, 'b1');
  await createBackup({ db: s.testDb.db, kms, out: backupDir, blobDir: join(s.dataDir, 'blobs') });
});
after(async () => {
  for (const t of targets) await t.drop();
  await kms.close();
  await s.close();
  rmSync(work, { recursive: true, force: true });
});

async function emptyTarget(): Promise<TestDb> {
  const t = await createTestDb();
  targets.push(t);
  return t;
}

const dump = async (db: TestDb['db'], table: string) =>
  (await db.query(`SELECT * FROM ${table} ORDER BY 1, 2, 3`)).rows.map((r) => JSON.stringify(r));

test('backup files hold no plaintext PHI; restore into an empty instance equals the source and the audit log verifies', async () => {
  for (const f of readdirSync(backupDir, { recursive: true }) as string[]) {
    if (f.endsWith('.sealed')) assert.ok(!readFileSync(join(backupDir, f)).includes(CANARY), `${f} holds no canary`);
  }
  const t = await emptyTarget();
  const m = await restoreBackup({ db: t.db, kms, from: backupDir, blobDir: join(work, 'restored-blobs'), keyStore: s.testDb.db });
  assert.ok(m.files.length > 10);
  assert.equal(m.files.filter((f) => f.kind === 'blob').length, 1);
  for (const table of ['resource', 'resource_version', 'data_key', 'audit_entry', 'tenant', 'idx_string']) {
    const [src, dst] = [await dump(s.testDb.db, table), await dump(t.db, table)];
    assert.ok(dst.length > 0, `${table} restored`);
    if (table !== 'audit_entry') assert.deepEqual(dst, src, `${table} equals the source`);
    else assert.ok(dst.length <= src.length && dst.every((r) => src.includes(r)), 'audit entries are the snapshot of the source');
  }
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
  const rows = await t.db.query<{ resource_type: string; id: string; version_id: string; content: Buffer }>('SELECT resource_type, id, version_id, content FROM resource_version');
  for (const r of rows.rows) {
    const json = JSON.parse(await codec.decode({ tenant: 'default', resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id) }, r.content));
    assert.match(json.name[0].family, new RegExp(CANARY));
  }
  const restoredBlobs = createLocalBlobStore({ dir: join(work, 'restored-blobs'), sealer: keyringSealer(createKeyring({ db: t.db, kms })) });
  const parts: Buffer[] = [];
  for await (const c of restoredBlobs.read('default', 'exports/job1/Patient.ndjson')) parts.push(c);
  assert.match(Buffer.concat(parts).toString('utf8'), new RegExp(`${CANARY}blob`), 'the blob is restored and decrypts with the restored keys');
  const report = await verifyAuditLog(t.db);
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.ok(report.entries > 0 && report.databaseHeads > 0, 'the restored log has sequenced entries and signed heads');
  await assert.rejects(restoreBackup({ db: t.db, kms, from: backupDir, keyStore: s.testDb.db }), /BACKUP_RESTORE_TARGET_NOT_EMPTY|already holds/);
});

async function refused(mutate: (dir: string) => void, reason: RegExp): Promise<void> {
  const dir = join(work, `c-${Math.random().toString(36).slice(2)}`);
  cpSync(backupDir, dir, { recursive: true });
  mutate(dir);
  const t = await emptyTarget();
  await assert.rejects(restoreBackup({ db: t.db, kms, from: dir, keyStore: s.testDb.db }), (err: Error) => {
    assert.match(err.message, reason);
    return true;
  });
  const n = await t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource');
  assert.equal(Number(n.rows[0]!.n), 0, 'nothing was written');
}

test('a corrupted backup is refused with the reason, before anything is written', async () => {
  // Format 2: the only tenant's rows are in its section, tenants/0000/.
  await refused((d) => {
    const p = join(d, 'tenants/0000/resource.jsonl.sealed');
    const b = readFileSync(p);
    b[Math.floor(b.length / 2)]! ^= 0x01;
    writeFileSync(p, b);
  }, /resource\.jsonl\.sealed does not match its SHA-256/);
  await refused((d) => unlinkSync(join(d, 'tenants/0000/resource_version.jsonl.sealed')), /resource_version\.jsonl\.sealed is missing/);
  await refused((d) => {
    const sec = join(d, 'tenants/0000');
    renameSync(join(sec, 'resource.jsonl.sealed'), join(sec, 'tmp'));
    renameSync(join(sec, 'resource_version.jsonl.sealed'), join(sec, 'resource.jsonl.sealed'));
    renameSync(join(sec, 'tmp'), join(sec, 'resource_version.jsonl.sealed'));
  }, /resource(_version)?\.jsonl\.sealed does not match its SHA-256/);
  await refused((d) => {
    const p = join(d, 'manifest.json');
    const outer = JSON.parse(readFileSync(p, 'utf8'));
    outer.manifest = outer.manifest.replace(/"rows":(\d+)/, (_: string, n: string) => `"rows":${Number(n) + 1}`);
    writeFileSync(p, JSON.stringify(outer));
  }, /manifest\.json was altered/);
});

test('a tenant backup holds only that tenant; restore refuses another schema version', async () => {
  const other = createEnvelopeCodec({ keyring: createKeyring({ db: s.testDb.db, kms }) });
  const bytes = await other.encode({ tenant: 'clinic-b', resourceType: 'Patient', id: 'b1', versionId: 1 }, '{"resourceType":"Patient","id":"b1"}');
  await s.testDb.db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content) VALUES ('clinic-b', 'Patient', 'b1', 1, now(), $1)`, [bytes]);
  const dir = join(work, 'tenant-default');
  const m = await createBackup({ db: s.testDb.db, kms, out: dir, blobDir: join(s.dataDir, 'blobs'), tenant: 'default' });
  assert.equal(m.tenant, 'default');
  assert.ok(!m.files.some((f) => f.source === 'audit_tree_head' || f.source === 'audit_batch_queue'), 'global tables are left out of a tenant backup');
  const t = await emptyTarget();
  await restoreBackup({ db: t.db, kms, from: dir, keyStore: s.testDb.db });
  const tenants = await t.db.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM resource');
  assert.deepEqual(tenants.rows.map((r) => r.tenant_id), ['default']);
  const keys = await t.db.query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM data_key');
  assert.deepEqual(keys.rows.map((r) => r.tenant_id), ['default']);

  const t2 = await emptyTarget();
  await t2.db.query(`DELETE FROM schema_migration WHERE version = (SELECT max(version) FROM schema_migration)`);
  await assert.rejects(restoreBackup({ db: t2.db, kms, from: dir, keyStore: s.testDb.db }), /BACKUP_SCHEMA_MISMATCH|another schema version/);
});
