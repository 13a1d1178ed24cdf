import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { destroyRetired, startDekRotation, workReencryption, type DekDeps } from '../../src/cli/keys-dek.js';
import { shredTenant } from '../../src/cli/tenant.js';
import { createEnvelopeCodec, createKeyring, createLocalKms, type Kms } from '../../src/crypto/index.js';
import { silentLogger } from '../../src/kernel/index.js';
import { countSealedWith, reencryptionStatus, retryFailedReencryption } from '../../src/store/reencrypt/worker.js';
import { createTestDb } from '../support/db.js';
import { startTestServer, type TestServer } from '../support/server.js';

let s: TestServer;
let kms: Kms;
let deps: DekDeps;
before(async () => {
  s = await startTestServer();
  kms = createLocalKms({ dataDir: s.dataDir, env: 'test', logger: silentLogger });
  deps = { db: s.testDb.db, kms, logger: silentLogger, actor: 'test' };
});
after(async () => {
  await kms.close();
  await s.close();
});

const patient = (family: string) => ({ resourceType: 'Patient', name: [{ family }] });

async function seed(n: number, tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await s.fhir('/Patient', { method: 'POST', json: patient(`${tag}${i}`) });
    assert.equal(r.status, 201);
    ids.push(r.body.id as string);
  }
  return ids;
}

/** Writes, updates and reads until stopped; every non-2xx answer is a failure. */
function load(ids: string[]) {
  const failures: string[] = [];
  let ops = 0;
  let stop = false;
  const loop = async (k: number) => {
    for (let i = 0; !stop; i++) {
      const id = ids[(i * 7 + k) % ids.length]!;
      const rs = [
        await s.fhir(`/Patient/${id}`),
        await s.fhir(`/Patient/${id}`, { method: 'PUT', json: { ...patient(`Load${k}-${i}`), id } }),
        await s.fhir('/Patient', { method: 'POST', json: patient(`New${k}-${i}`) }),
      ];
      for (const r of rs) if (r.status >= 300) failures.push(`${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      ops += rs.length;
    }
  };
  const running = Promise.all([loop(1), loop(2)]);
  return { failures, ops: () => ops, stop: async () => ((stop = true), await running) };
}

async function untilDone(jobId: string) {
  for (let i = 0; i < 120; i++) {
    const jobs = (await reencryptionStatus(s.testDb.db)).filter((j) => j.jobId === jobId);
    if (jobs.length === 3 && jobs.every((j) => j.status === 'done')) return jobs;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`re-encryption job ${jobId} did not finish`);
}

/** Every stored body of the tenant decrypts with a freshly started key ring; returns the versions in use. */
async function decryptAll(): Promise<Set<number>> {
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: s.testDb.db, kms }) });
  const versions = new Set<number>();
  for (const table of ['resource', 'resource_version']) {
    const rows = await s.testDb.db.query<{ resource_type: string; id: string; version_id: string; content: Buffer }>(
      `SELECT resource_type, id, version_id, content FROM ${table} WHERE tenant_id = 'default' AND content IS NOT NULL`,
    );
    for (const r of rows.rows) {
      versions.add(r.content.readUInt32BE(2));
      const json = await codec.decode({ tenant: 'default', resourceType: r.resource_type, id: r.id, versionId: Number(r.version_id) }, r.content);
      assert.equal(JSON.parse(json).id, r.id);
    }
  }
  return versions;
}

test('DEK rotation under load: no request fails, everything is re-encrypted, the old DEK is destroyed and data still reads', async () => {
  const ids = await seed(40, 'Seed');
  const l = load(ids);
  await new Promise((r) => setTimeout(r, 500));
  const [rot] = await startDekRotation({ ...deps, settleMs: 6000 }, 'default', 'resources');
  assert.deepEqual([rot!.from, rot!.to], [1, 2]);
  const t0 = Date.now();
  // The server's own worker polls the same queue: both may take tasks, neither may clobber the other.
  await workReencryption(deps, { batchSize: 10 });
  const jobs = await untilDone(rot!.jobId!);
  const took = Date.now() - t0;
  await l.stop();
  assert.deepEqual(l.failures, [], 'no request failed during the rotation');
  assert.ok(l.ops() > 30, `load ran (${l.ops()} requests)`);
  const rewritten = jobs.reduce((n, j) => n + j.rewritten, 0);
  assert.ok(rewritten > 0);
  assert.equal(await countSealedWith(s.testDb.db, 'default', 1), 0);
  assert.deepEqual([...(await decryptAll())], [2], 'only the new version is in use');
  // No lost update: every current row still equals its newest history version (a clobber by the job would differ).
  const codec = createEnvelopeCodec({ keyring: createKeyring({ db: s.testDb.db, kms }) });
  const pairs = await s.testDb.db.query<{ id: string; version_id: string; cur: Buffer; hist: Buffer; newest: string }>(
    `SELECT r.id, r.version_id, r.content AS cur, v.content AS hist,
            (SELECT max(version_id) FROM resource_version x WHERE x.tenant_id = r.tenant_id AND x.resource_type = r.resource_type AND x.id = r.id) AS newest
     FROM resource r JOIN resource_version v USING (tenant_id, resource_type, id, version_id) WHERE r.tenant_id = 'default'`,
  );
  for (const p of pairs.rows) {
    const ident = { tenant: 'default', resourceType: 'Patient', id: p.id, versionId: Number(p.version_id) };
    assert.equal(p.version_id, p.newest);
    assert.equal(await codec.decode(ident, p.cur), await codec.decode(ident, p.hist));
  }
  const fresh = await s.fhir('/Patient', { method: 'POST', json: patient('AfterRotation') });
  const stored = await s.testDb.db.query<{ content: Buffer }>(`SELECT content FROM resource WHERE id = $1`, [fresh.body.id]);
  assert.equal(stored.rows[0]!.content.readUInt32BE(2), 2, 'the running server seals new writes with v2');

  const destroyed = await destroyRetired(deps);
  assert.deepEqual(destroyed.destroyed, ['default/resources/v1']);
  for (const id of ids) assert.equal((await s.fhir(`/Patient/${id}`)).status, 200);
  await decryptAll();
  const ops = await s.testDb.db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_entry WHERE action = 'operation'`);
  assert.ok(Number(ops.rows[0]!.n) >= 2, 'rotation and destruction are audited');
  console.log(`rotation under load: ${rewritten} rows re-encrypted in ${took} ms (incl. 6 s settle) with ${l.ops()} concurrent requests, 0 failed`);
});

test('re-encryption is resumable: a bounded run stops mid-way, the next run finishes from the saved cursor', async () => {
  const t = await createTestDb(); // no server here: only this test's runs work the queue
  try {
    const d: DekDeps = { db: t.db, kms, logger: silentLogger, actor: 'test' };
    const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
    for (let i = 0; i < 30; i++) {
      const id = `r${String(i).padStart(2, '0')}`;
      const bytes = await codec.encode({ tenant: 'default', resourceType: 'Patient', id, versionId: 1 }, JSON.stringify({ ...patient(`Resume${i}`), id }));
      await t.db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content) VALUES ('default', 'Patient', $1, 1, now(), $2)`, [id, bytes]);
      await t.db.query(`INSERT INTO resource_version (tenant_id, resource_type, id, version_id, last_updated, method, content) VALUES ('default', 'Patient', $1, 1, now(), 'POST', $2)`, [id, bytes]);
    }
    const hl7Id = '0b7f5c1e-8d9a-4c1b-9f00-000000000001';
    const hl7 = { tenant: 'default', resourceType: 'Hl7v2Message', id: hl7Id, versionId: 1 };
    await t.db.query(
      `INSERT INTO hl7v2_message (tenant_id, id, channel, sender, status, body, body_bytes, received_at, updated_at)
       VALUES ('default', $1, 'mllp', 'LAB^HOSP', 'processed', $2, 20, now(), now())`,
      [hl7Id, await codec.encode(hl7, 'MSH|^~\\&|LAB|HOSP\r')],
    );
    const [rot] = await startDekRotation({ ...d, settleMs: 0 }, 'default', 'resources');
    const first = await workReencryption(d, { batchSize: 5, maxBatches: 3 });
    assert.equal(first.batches, 3);
    assert.equal(first.tasksDone, 0);
    const mid = await reencryptionStatus(t.db);
    assert.equal(mid.find((j) => j.table === 'resource')!.rewritten, 15, 'progress is saved per batch');
    assert.equal(await countSealedWith(t.db, 'default', 1), 46, 'half of one table and all of the others are still on v1');
    const second = await workReencryption(d, { batchSize: 5 });
    assert.equal(second.tasksDone, 3);
    assert.equal(second.batches, 10, 'the second run resumed where the first stopped (3 + 10 batches: 60 resource rows, 1 message)');
    assert.equal(await countSealedWith(t.db, 'default', 1), 0);
    assert.equal(await countSealedWith(t.db, 'default', rot!.to), 61);
    const msg = (await t.db.query<{ body: Buffer }>('SELECT body FROM hl7v2_message WHERE id = $1', [hl7Id])).rows[0]!;
    assert.equal(msg.body.readUInt32BE(2), rot!.to);
    assert.match(await createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) }).decode(hl7, msg.body), /^MSH\|/);
    assert.deepEqual((await reencryptionStatus(t.db)).map((j) => j.status), ['done', 'done', 'done']);
    const fresh = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
    const row = (await t.db.query<{ content: Buffer }>(`SELECT content FROM resource WHERE id = 'r07'`)).rows[0]!;
    assert.equal(JSON.parse(await fresh.decode({ tenant: 'default', resourceType: 'Patient', id: 'r07', versionId: 1 }, row.content)).name[0].family, 'Resume7');
  } finally {
    await t.drop();
  }
});

test('a tampered row is never re-sealed: the task stops with the error, and resumes once the row is restored', async () => {
  const t = await createTestDb();
  try {
    const d: DekDeps = { db: t.db, kms, logger: silentLogger, actor: 'test' };
    const codec = createEnvelopeCodec({ keyring: createKeyring({ db: t.db, kms }) });
    const sealed: Buffer[] = [];
    for (const id of ['a', 'b']) {
      sealed.push(await codec.encode({ tenant: 'default', resourceType: 'Patient', id, versionId: 1 }, JSON.stringify({ ...patient(id), id })));
      await t.db.query(`INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content) VALUES ('default', 'Patient', $1, 1, now(), $2)`, [id, sealed.at(-1)]);
    }
    await t.db.query(`UPDATE resource SET content = $1 WHERE id = 'a'`, [sealed[1]]); // b's ciphertext moved into row a
    await startDekRotation({ ...d, settleMs: 0 }, 'default', 'resources');
    await assert.rejects(workReencryption(d), /CRYPTO_DECRYPT_FAILED|failed authentication/);
    const row = await t.db.query<{ content: Buffer }>(`SELECT content FROM resource WHERE id = 'a'`);
    assert.deepEqual(row.rows[0]!.content, sealed[1], 'the damaged row was left exactly as it was');
    assert.match((await reencryptionStatus(t.db)).find((j) => j.table === 'resource')!.lastError ?? '', /CRYPTO_DECRYPT_FAILED/);
    await t.db.query(`UPDATE resource SET content = $1 WHERE id = 'a'`, [sealed[0]]); // restored from backup
    assert.ok((await retryFailedReencryption(t.db)) >= 1);
    const again = await workReencryption(d);
    assert.ok(again.tasksDone >= 1);
    assert.equal(await countSealedWith(t.db, 'default', 1), 0);
  } finally {
    await t.drop();
  }
});

test('crypto-shredding: the tenant becomes unreadable on the running server; another tenant is untouched', async () => {
  const other = createEnvelopeCodec({ keyring: createKeyring({ db: s.testDb.db, kms }) });
  const ident = { tenant: 'clinic-b', resourceType: 'Patient', id: 'b1', versionId: 1 };
  const sealed = await other.encode(ident, JSON.stringify(patient('OtherTenant')));
  const id = (await seed(1, 'Shred'))[0]!;
  assert.equal((await s.fhir(`/Patient/${id}`)).status, 200);
  const destroyed = await shredTenant(s.testDb.db, 'default', 'test');
  assert.ok(destroyed >= 2);
  let res = await s.fhir(`/Patient/${id}`);
  for (let i = 0; i < 40 && res.status === 200; i++) {
    await new Promise((r) => setTimeout(r, 250));
    res = await s.fhir(`/Patient/${id}`);
  }
  assert.equal(res.status, 410, 'the running node dropped its cached key within its refresh interval');
  assert.match(JSON.stringify(res.body), /CRYPTO_TENANT_SHREDDED/);
  const write = await s.fhir('/Patient', { method: 'POST', json: patient('AfterShred') });
  assert.equal(write.status, 410, 'a shredded tenant accepts no new data');
  await assert.rejects(decryptAll(), /crypto-shredded/);
  const fresh = createEnvelopeCodec({ keyring: createKeyring({ db: s.testDb.db, kms }) });
  assert.equal(JSON.parse(await fresh.decode(ident, sealed)).name[0].family, 'OtherTenant');
  const audit = await s.testDb.db.query<{ n: string }>(`SELECT count(*) AS n FROM audit_entry WHERE action = 'operation' AND tenant_id = 'default'`);
  assert.ok(Number(audit.rows[0]!.n) >= 3);
});
