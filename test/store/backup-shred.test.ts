import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { archiveOldEntries } from '../../src/audit/archive.js';
import { createSequencer, recordKeyOperation, verifyArchiveDir, verifyAuditLog, verifyEntries } from '../../src/audit/index.js';
import { shredTenant } from '../../src/cli/tenant.js';
import { createEnvelopeCodec, createKeyring, createLocalKms, type Kms } from '../../src/crypto/index.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { appliedMigrations, backupKeyContext, createBackup, ownedTables, type BackupManifest } from '../../src/store/backup/backup.js';
import { restoreBackup } from '../../src/store/backup/restore.js';
import { createSealedFile, manifestMac } from '../../src/store/backup/sealed-file.js';
import { createLocalBlobStore, keyringSealer } from '../../src/store/blob-store.js';
import { createTestDb, type TestDb } from '../support/db.js';

/**
 * Crypto-shredding reaches backups taken BEFORE the shred (format 2): each
 * tenant's section is sealed under a key only that tenant's `backup` DEK
 * opens, and that DEK lives in the installation's data_key table, never in a
 * backup. Two tenants → backup → shred one → restore.
 */
let src: TestDb;
let kms: Kms;
let work: string;
let backupDir: string;
let v1Dir: string;
const CANARY = { default: 'Zqxkeepcanary', 'clinic-b': 'Zqxshredcanary' } as const;
const TENANTS = ['default', 'clinic-b'] as const;
const targets: TestDb[] = [];

async function emptyTarget(): Promise<TestDb> {
  const t = await createTestDb();
  targets.push(t);
  return t;
}

/** The format-1 writer (one per-backup key for everything), as Haven wrote it before format 2: restore must still read it. */
async function writeFormat1(db: TestDb['db'], out: string, blobDir: string): Promise<void> {
  mkdirSync(join(out, 'blobs'), { recursive: true });
  const backupId = randomUUID();
  const key = randomBytes(32);
  const files: BackupManifest['files'] = [];
  for (const table of await ownedTables(db, false)) {
    const name = `${table}.jsonl.sealed`;
    const rows = (await db.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM ${table} t`)).rows;
    const w = await createSealedFile(join(out, name), key, backupId, name);
    if (rows.length > 0) await w.write(Buffer.from(rows.map((r) => r.j).join('\n') + '\n'));
    files.push({ name, kind: 'table', source: table, rows: rows.length, ...(await w.close()) });
  }
  for (const f of (readdirSync(blobDir, { recursive: true }) as string[]).filter((x) => statSync(join(blobDir, x)).isFile()).sort()) {
    const name = `blobs/${String(files.length).padStart(6, '0')}.sealed`;
    const w = await createSealedFile(join(out, name), key, backupId, name);
    await w.write(readFileSync(join(blobDir, f)));
    files.push({ name, kind: 'blob', source: relative(blobDir, join(blobDir, f)), rows: 0, ...(await w.close()) });
  }
  const manifest: BackupManifest = {
    format: 1, backupId, createdAt: new Date().toISOString(), tenant: null, kekId: kms.describe().kekId,
    wrappedKey: (await kms.wrap(key, backupKeyContext(backupId))).toString('base64'), migrations: await appliedMigrations(db), files,
  };
  const body = JSON.stringify(manifest);
  writeFileSync(join(out, 'manifest.json'), JSON.stringify({ manifest: body, mac: manifestMac(key, body) }));
}

before(async () => {
  src = await createTestDb();
  work = mkdtempSync(join(tmpdir(), 'haven-backup-shred-'));
  kms = createLocalKms({ dataDir: work, env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db: src.db, kms });
  const codec = createEnvelopeCodec({ keyring });
  const blobs = createLocalBlobStore({ dir: join(work, 'blobs'), sealer: keyringSealer(keyring) });
  for (const tenant of TENANTS) {
    await src.db.query(`INSERT INTO tenant (tenant_id, name) VALUES ($1, $1) ON CONFLICT DO NOTHING`, [tenant]);
    for (let i = 0; i < 30; i++) {
      const id = `p${i}`;
      const bytes = await codec.encode({ tenant, resourceType: 'Patient', id, versionId: 1 }, JSON.stringify({ resourceType: 'Patient', id, name: [{ family: `${CANARY[tenant]}${i}` }] }));
      await src.db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content) VALUES ($1, 'Patient', $2, 1, now(), $3)`, [tenant, id, bytes]);
      await src.db.query(`INSERT INTO resource_version (tenant_id, resource_type, id, version_id, last_updated, method, content) VALUES ($1, 'Patient', $2, 1, now(), 'POST', $3)`, [tenant, id, bytes]);
    }
    const w = await blobs.create(tenant, 'exports/job1/Patient.ndjson');
    await w.write(`{"resourceType":"Patient","name":[{"family":"${CANARY[tenant]}blob"}]}\n`.repeat(50));
    await w.close();
    await recordKeyOperation(src.db, { tenant, operation: 'backup', actor: 'test', keys: ['seed'] });
  }
  await keyring.close();
  const sequencer = createSequencer({ db: src.db, clock: systemClock, logger: silentLogger, witnessPath: join(work, 'witness.jsonl'), intervalMs: 60_000 });
  assert.ok((await sequencer.drain()) > 0, 'audit entries sequenced into the Merkle log');
  await sequencer.stop();
  backupDir = join(work, 'b2');
  const m = await createBackup({ db: src.db, kms, out: backupDir, blobDir: join(work, 'blobs') });
  assert.equal(m.format, 2);
  assert.deepEqual(m.tenants!.map((t) => t.tenant).sort(), ['clinic-b', 'default']);
  v1Dir = join(work, 'b1');
  await writeFormat1(src.db, v1Dir, join(work, 'blobs'));
  await shredTenant(src.db, 'clinic-b', 'test');
});
after(async () => {
  for (const t of targets) await t.drop();
  await src.drop();
  await kms.close();
  rmSync(work, { recursive: true, force: true });
});

const rowsOf = async (db: TestDb['db'], table: string, tenant: string) =>
  (await db.query(`SELECT * FROM ${table} WHERE tenant_id = $1 ${table === 'data_key' ? `AND purpose <> 'backup'` : ''} ORDER BY 1, 2, 3`, [tenant])).rows.map((r) => JSON.stringify(r));
const PER_TENANT = ['tenant', 'resource', 'resource_version', 'data_key', 'audit_batch'];

test('canary scan: no file of the backup, manifest included, holds either tenant\'s PHI in plaintext', () => {
  const files = readdirSync(backupDir, { recursive: true }) as string[];
  assert.ok(files.some((f) => f.startsWith('tenants/')), 'per-tenant sections');
  for (const f of files) {
    if (!statSync(join(backupDir, f)).isFile()) continue;
    const bytes = readFileSync(join(backupDir, f));
    for (const c of Object.values(CANARY)) assert.ok(!bytes.includes(c), `${f} holds no ${c}`);
  }
  const manifest = JSON.parse(JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')).manifest) as BackupManifest;
  assert.ok(!manifest.files.some((f) => f.tenant === undefined && f.source === 'resource'), 'resource rows are only in tenant sections');
});

test('after shredding one tenant, restoring the older backup restores the other tenant equal to the source and reports the shredded one', async () => {
  const t = await emptyTarget();
  const blobDir = join(work, 'restored');
  const r = await restoreBackup({ db: t.db, kms, from: backupDir, blobDir, keyStore: src.db });
  assert.deepEqual(r.skippedTenants.map((x) => x.tenant), ['clinic-b']);
  assert.match(r.skippedTenants[0]!.reason, /crypto-shredded/);
  for (const table of PER_TENANT) {
    const [a, b] = [await rowsOf(src.db, table, 'default'), await rowsOf(t.db, table, 'default')];
    assert.ok(b.length > 0, `${table} of default restored`);
    assert.deepEqual(b, a, `${table} of default equals the source`);
    if (table !== 'audit_batch') assert.deepEqual(await rowsOf(t.db, table, 'clinic-b'), [], `no ${table} row of the shredded tenant`);
  }
  // The shredded tenant's sequenced audit batches come back as leaf hashes only (migration 030): no entry bytes.
  const withheld = await t.db.query<{ batch_id: string; entries: (Buffer | null)[]; leaf_hashes: Buffer[]; patient_ids: string[]; withheld: string | null }>(
    `SELECT batch_id, entries, leaf_hashes, patient_ids, withheld FROM audit_batch WHERE tenant_id = 'clinic-b' ORDER BY batch_id`,
  );
  // Every batch of the tenant that the backup's seq ledger holds (the shred itself was audited after the backup).
  const logged = (await t.db.query<{ batch_id: string }>(`SELECT batch_id FROM audit_batch_log WHERE tenant_id = 'clinic-b'`)).rows.map((x) => x.batch_id);
  assert.ok(logged.length > 0);
  const srcBatches = await src.db.query<{ batch_id: string; leaf_hashes: Buffer[] }>(`SELECT batch_id, leaf_hashes FROM audit_batch WHERE tenant_id = 'clinic-b' AND batch_id = ANY($1::bigint[]) ORDER BY batch_id`, [logged]);
  assert.deepEqual(withheld.rows.map((r) => [r.batch_id, r.leaf_hashes.map((h) => h.toString('hex'))]), srcBatches.rows.map((r) => [r.batch_id, r.leaf_hashes.map((h) => h.toString('hex'))]));
  for (const r of withheld.rows) {
    assert.ok(r.entries.every((e) => e === null) && r.patient_ids.length === 0 && /crypto-shredded/.test(r.withheld ?? ''), `batch ${r.batch_id} withheld`);
  }
  assert.equal(r.auditEntriesWithheld, withheld.rows.reduce((n, x) => n + x.leaf_hashes.length, 0));
  assert.deepEqual(readdirSync(blobDir), ['default'], 'only the kept tenant\'s blobs');
  const keyring = createKeyring({ db: t.db, kms });
  const codec = createEnvelopeCodec({ keyring });
  const row = (await t.db.query<{ content: Buffer }>(`SELECT content FROM resource WHERE tenant_id = 'default' AND id = 'p7'`)).rows[0]!;
  assert.match(await codec.decode({ tenant: 'default', resourceType: 'Patient', id: 'p7', versionId: 1 }, row.content), new RegExp(`${CANARY.default}7`));
  const parts: Buffer[] = [];
  for await (const c of createLocalBlobStore({ dir: blobDir, sealer: keyringSealer(keyring) }).read('default', 'exports/job1/Patient.ndjson')) parts.push(c);
  assert.match(Buffer.concat(parts).toString('utf8'), new RegExp(`${CANARY.default}blob`));
  // The restored instance knows the tenant as shredded (its destroyed backup key came along): it accepts no data for it.
  await assert.rejects(codec.encode({ tenant: 'clinic-b', resourceType: 'Patient', id: 'x', versionId: 1 }, '{}'), /CRYPTO_TENANT_SHREDDED|crypto-shredded/);
  await keyring.close();
  // The audit seq ledger is installation-wide and the shredded tenant's leaves came back, so the
  // restored log verifies through them, names them as withheld, and the sequencer resumes.
  await recordKeyOperation(t.db, { tenant: 'default', operation: 'restore', actor: 'test', keys: ['after'] });
  const sequencer = createSequencer({ db: t.db, clock: systemClock, logger: silentLogger, witnessPath: join(work, 'witness-t.jsonl'), intervalMs: 60_000 });
  assert.equal(await sequencer.drain(), 1, 'the restored instance sequences new entries');
  await sequencer.stop();
  const report = await verifyAuditLog(t.db);
  assert.deepEqual(report.problems, []);
  assert.ok(report.ok && report.databaseHeads > 0);
  assert.deepEqual(report.withheld.map((w) => [w.tenant, w.entries]), [['clinic-b', r.auditEntriesWithheld]]);
  // Archival past retention carries the withheld seqs as leaves only, and the segments still verify.
  const archiveKeyring = createKeyring({ db: t.db, kms });
  const archiveBlobs = createLocalBlobStore({ dir: blobDir, sealer: keyringSealer(archiveKeyring) });
  const manifestDir = join(work, 'archive-t');
  const segments = await archiveOldEntries(t.db, { blobs: archiveBlobs, manifestDir, now: new Date(Date.now() + 10 * 365 * 86_400_000), retentionYears: 6 });
  assert.ok(segments.some((m) => (m.withheld ?? []).length > 0), 'a segment names withheld seqs');
  assert.deepEqual(verifyArchiveDir(manifestDir).problems, []);
  for (const m of segments) assert.deepEqual(await verifyEntries(m, (tenant, name) => archiveBlobs.read(tenant, name)), []);
  await archiveKeyring.close();

  // The restored instance is itself a key store for the same backup.
  const t2 = await emptyTarget();
  const r2 = await restoreBackup({ db: t2.db, kms, from: backupDir, keyStore: t.db });
  assert.deepEqual(r2.skippedTenants.map((x) => x.tenant), ['clinic-b']);
  assert.deepEqual(await rowsOf(t2.db, 'resource', 'default'), await rowsOf(src.db, 'resource', 'default'));

  // Withholding a live tenant's batch (an insider emptying its entries and calling it a shred) is a finding.
  const victim = (await t2.db.query<{ batch_id: string }>(`SELECT min(batch_id)::text AS batch_id FROM audit_batch WHERE tenant_id = 'default'`)).rows[0]!.batch_id;
  await t2.db.query('ALTER TABLE audit_batch DISABLE TRIGGER USER');
  await t2.db.query(`UPDATE audit_batch SET entries = array_fill(NULL::bytea, ARRAY[cardinality(entries)]), withheld = 'tenant crypto-shredded' WHERE tenant_id = 'default' AND batch_id = $1`, [victim]);
  await t2.db.query('ALTER TABLE audit_batch ENABLE TRIGGER USER');
  const forged = await verifyAuditLog(t2.db);
  assert.equal(forged.ok, false);
  assert.ok(forged.problems.some((p) => /tenant default: \d+ entries are withheld .* still has data or a usable key/.test(p)), JSON.stringify(forged.problems));
});

test('restore without the tenants\' backup keys is refused, naming what is missing', async () => {
  const t = await emptyTarget();
  await assert.rejects(restoreBackup({ db: t.db, kms, from: backupDir }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'BACKUP_KEY_UNAVAILABLE');
    assert.match(err.message, /no backup key v1 for tenant default.*--keys-from/);
    return true;
  });
  assert.equal(Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource')).rows[0]!.n), 0);
});

test('a corrupted backup is refused with the reason, the shredded tenant\'s section included', async () => {
  const refused = async (mutate: (dir: string) => void, reason: RegExp) => {
    const dir = join(work, `c-${randomUUID()}`);
    cpSync(backupDir, dir, { recursive: true });
    mutate(dir);
    const t = await emptyTarget();
    await assert.rejects(restoreBackup({ db: t.db, kms, from: dir, keyStore: src.db }), (err: Error) => {
      assert.match(err.message, reason);
      return true;
    });
    assert.equal(Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM resource')).rows[0]!.n), 0, 'nothing was written');
  };
  const manifest = JSON.parse(JSON.parse(readFileSync(join(backupDir, 'manifest.json'), 'utf8')).manifest) as BackupManifest;
  const sectionOf = (tenant: string) => manifest.tenants!.find((s) => s.tenant === tenant)!.dir;
  const flip = (p: string) => {
    const b = readFileSync(p);
    b[Math.floor(b.length / 2)]! ^= 0x01;
    writeFileSync(p, b);
  };
  await refused((d) => flip(join(d, sectionOf('default'), 'resource.jsonl.sealed')), /resource\.jsonl\.sealed does not match its SHA-256/);
  await refused((d) => flip(join(d, sectionOf('clinic-b'), 'resource.jsonl.sealed')), new RegExp(`${sectionOf('clinic-b')}/resource\\.jsonl\\.sealed does not match its SHA-256`));
  await refused((d) => {
    // Swapping the two tenants' sealed section keys: the manifest MAC catches it.
    const p = join(d, 'manifest.json');
    const outer = JSON.parse(readFileSync(p, 'utf8'));
    const m = JSON.parse(outer.manifest) as BackupManifest;
    [m.tenants![0]!.sealedKey, m.tenants![1]!.sealedKey] = [m.tenants![1]!.sealedKey, m.tenants![0]!.sealedKey];
    outer.manifest = JSON.stringify(m);
    writeFileSync(p, JSON.stringify(outer));
  }, /manifest\.json was altered/);
});

test('format-1 backups are still read; a tenant shredded in the key store is not restored from them', async () => {
  const t = await emptyTarget();
  const blobDir = join(work, 'restored-v1');
  const r = await restoreBackup({ db: t.db, kms, from: v1Dir, blobDir, keyStore: src.db });
  assert.equal(r.format, 1);
  assert.deepEqual(r.skippedTenants.map((x) => x.tenant), ['clinic-b']);
  assert.match(r.skippedTenants[0]!.reason, /format-1/);
  for (const table of PER_TENANT) {
    assert.deepEqual(await rowsOf(t.db, table, 'default'), await rowsOf(src.db, table, 'default'), `${table} of default equals the source`);
    assert.deepEqual(await rowsOf(t.db, table, 'clinic-b'), [], `no ${table} row of the shredded tenant`);
  }
  assert.ok(existsSync(join(blobDir, 'default')) && !existsSync(join(blobDir, 'clinic-b')));
  // Without a key store that knows of the shred, a format-1 backup restores everything: that is why format 2 exists.
  const t2 = await emptyTarget();
  const r2 = await restoreBackup({ db: t2.db, kms, from: v1Dir });
  assert.deepEqual(r2.skippedTenants, []);
  assert.equal((await rowsOf(t2.db, 'resource', 'clinic-b')).length, 30);
});
