import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { archiveBlobName, archiveOldEntries } from '../../src/audit/archive.js';
import { manifestName, type ArchiveManifest } from '../../src/audit/archive-verify.js';
import { consistency, inclusion, newestHead } from '../../src/audit/proof-service.js';
import { verifyRemoteLog } from '../../src/audit/verify-remote.js';
import { readWitness } from '../../src/audit/witness.js';
import type { Db, Queryable } from '../../src/store/index.js';
import { verifyConsistency, verifyEntryInclusion } from '../../src/audit/proof-verify.js';
import { disclosureReport } from '../../src/audit/disclosures.js';
import { renderDisclosures } from '../../src/audit/disclosure-render.js';
import { pruneArchived, type PruneOptions } from '../../src/audit/prune.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { createKeyring, createLocalKms, type Kms } from '../../src/crypto/index.js';
import { HavenError, silentLogger } from '../../src/kernel/index.js';
import { createLocalBlobStore, keyringSealer } from '../../src/store/blob-store.js';
import { asAttacker, auditFixture, changeEntryAt, type AuditFixture } from './support.js';
import { createTestDb, testServerUrl } from '../support/db.js';
import { createBackup } from '../../src/store/backup/backup.js';
import { restoreBackup } from '../../src/store/backup/restore.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * Pruning archived entries (migration 038, src/audit/prune.ts): a log of 3 + 4
 * entries aged past the six-year retention (one batch each, a signed head
 * after each round) and 2 recent ones; archived in segments [0,3) and [3,7).
 */
interface PruneFixture {
  f: AuditFixture;
  kms: Kms;
  manifestDir: string;
  blobDir: string;
  options(extra?: Partial<PruneOptions>): PruneOptions;
  count(): Promise<{ batches: number; logRows: number }>;
  close(): Promise<void>;
}

async function prunableLog(ageAll = false): Promise<PruneFixture> {
  const f = await auditFixture();
  const dir = tempDir('haven-prune-');
  const kms = createLocalKms({ dataDir: dir, env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db: f.testDb.db, kms });
  const blobDir = join(dir, 'blobs');
  const blobs = createLocalBlobStore({ dir: blobDir, sealer: keyringSealer(keyring) });
  const manifestDir = join(dir, 'archive');
  await f.addRound(3);
  await f.addRound(4);
  // Age the first two rounds' batches past retention (archive and prune go by batch time).
  await asAttacker(f.testDb, [`UPDATE audit_batch SET first_at = first_at - interval '8 years', last_at = last_at - interval '8 years'
                               WHERE batch_id IN (SELECT batch_id FROM audit_batch_log WHERE first_seq < 7)`]);
  await f.addRound(2);
  if (ageAll) await asAttacker(f.testDb, [`UPDATE audit_batch SET first_at = first_at - interval '8 years', last_at = last_at - interval '8 years' WHERE last_at > now() - interval '1 year'`]);
  const archived = await archiveOldEntries(f.testDb.db, { blobs, manifestDir, now: new Date(), retentionYears: 6, maxEntries: 4 });
  assert.deepEqual(archived.map((m) => [m.from, m.to]), ageAll ? [[0, 3], [3, 7], [7, 9]] : [[0, 3], [3, 7]]);
  return {
    f, kms, manifestDir, blobDir,
    options: (extra = {}) => ({ manifestDir, read: (t, n) => blobs.read(t, n), now: new Date(), retentionYears: 6, actor: 'cli:test', confirm: true, ...extra }),
    async count() {
      const r = await f.testDb.db.query<{ b: number; l: number }>('SELECT (SELECT count(*) FROM audit_batch)::int AS b, (SELECT count(*) FROM audit_batch_log)::int AS l');
      return { batches: r.rows[0]!.b, logRows: r.rows[0]!.l };
    },
    async close() {
      await keyring.close();
      await kms.close();
      await f.sequencer.stop();
      await f.testDb.drop();
    },
  };
}

const verify = (p: PruneFixture) => verifyAuditLog(p.f.testDb.db, { witnessPath: p.f.witnessPath, archiveDir: p.manifestDir });

test('prune removes exactly the archived batches past retention; verify starts at the first kept seq and still catches tampering', async () => {
  const p = await prunableLog();
  const db = p.f.testDb.db;
  try {
    const dry = await pruneArchived(db, p.options({ confirm: false }));
    assert.deepEqual([dry.problems, dry.target, dry.batches], [[], 7, 0]);
    assert.deepEqual(await p.count(), { batches: 9, logRows: 9 }, 'a dry run removes nothing');

    const done = await pruneArchived(db, p.options());
    assert.deepEqual([done.problems, done.prunedBefore, done.target, done.batches, done.entries], [[], 0, 7, 7, 7]);
    assert.deepEqual(done.segments, [{ from: 0, to: 3 }, { from: 3, to: 7 }]);
    const left = await db.query<{ first_seq: string }>('SELECT first_seq FROM audit_batch_log ORDER BY first_seq');
    assert.deepEqual(left.rows.map((r) => Number(r.first_seq)), [7, 8], 'only the recent batches stay sequenced');
    const record = await db.query<{ through_seq: string; batches: string; entries: string; actor: string }>('SELECT * FROM audit_prune');
    assert.deepEqual(record.rows.map((r) => [Number(r.through_seq), Number(r.batches), Number(r.entries), r.actor]), [[7, 7, 7, 'cli:test']]);
    // The prune is itself an audit entry, written before the rows went (queued, then sequenced).
    const event = await db.query("SELECT 1 FROM audit_batch b, unnest(b.entries) e WHERE position('audit-prune' in convert_from(e, 'UTF8')) > 0");
    assert.equal(event.rowCount, 1);
    await p.f.sequencer.drain();

    const after = await verify(p);
    assert.deepEqual(after.problems, []);
    assert.equal(after.startedAt, 7, 'verification starts at the first kept seq by itself');
    assert.equal(after.logSize, 10);
    assert.equal(after.pruned.firstKept, 7);
    assert.ok(after.pruned.archiveChecked && after.pruned.headsChecked >= 2, 'heads before the prune point checked against the archive');
    assert.deepEqual((await verifyAuditLog(db, { witnessPath: p.f.witnessPath, fromSeq: 2 })).problems, [], '--from below the prune point');

    // Idempotent, and the sequencer carries on from the head at the prune point.
    const again = await pruneArchived(db, p.options());
    assert.deepEqual([again.problems, again.batches, again.target], [[], 0, 7]);
    await p.f.addRound(2);
    assert.deepEqual((await verify(p)).problems, []);

    // Proofs: kept entries and sizes from the prune point on still prove; pruned ones answer a clear error.
    const head = await db.query<{ tree_size: string; root_hash: Buffer }>('SELECT tree_size, root_hash FROM audit_tree_head ORDER BY tree_size DESC LIMIT 1');
    const size = Number(head.rows[0]!.tree_size);
    const inc = await inclusion(db, 8);
    assert.ok(verifyEntryInclusion(Buffer.from(inc.entry!, 'base64'), 8, size, inc.inclusionPath.map((h) => Buffer.from(h, 'base64')), head.rows[0]!.root_hash));
    const con = await consistency(db, 7);
    assert.ok(verifyConsistency(7, size, con.consistencyPath.map((h) => Buffer.from(h, 'base64')), Buffer.from(con.firstHead.rootHash, 'base64'), head.rows[0]!.root_hash));
    await assert.rejects(inclusion(db, 2), /AUDIT_ENTRY_PRUNED|archived and removed/);
    await assert.rejects(consistency(db, 3), /archived and removed/);

    // Disclosure reports say from when they are complete.
    const report = await disclosureReport(db, { tenant: 'default', patientId: 'p8', now: new Date() });
    assert.equal(report.coverage?.prunedBeforeSeq, 7);
    assert.ok(report.coverage && Date.parse(report.coverage.completeFrom) < Date.now() - 6 * 365 * 86_400_000);
    assert.match(renderDisclosures(report, 'html'), /Complete from/);

    // Through the API: a remote verifier learns the first kept seq and checks from there.
    const remote = await verifyRemoteLog({ get: apiOf(db), witness: readWitness(p.f.witnessPath).records });
    assert.deepEqual(remote.problems, []);
    assert.equal(remote.firstKept, 7);
    assert.equal(remote.prunedHeads, 1, 'the witnessed head at 3 is left to the archive');
    assert.equal(remote.entriesChecked, size - 7);

    // Tampering with a kept entry after the prune is still named.
    await asAttacker(p.f.testDb, [changeEntryAt(8, (e) => `overlay(${e} placing '\\x41'::bytea from 10 for 1)`)]);
    assert.match((await verify(p)).problems.join('\n'), /seq 8 \(entry \d+\): the entry's bytes differ/);
  } finally {
    await p.close();
  }
});

test('prune refuses, removing nothing, when a manifest or a blob is missing or altered, and never prunes inside retention', async () => {
  const p = await prunableLog();
  const db = p.f.testDb.db;
  const refused = async (why: RegExp, extra: Partial<PruneOptions> = {}) => {
    const r = await pruneArchived(db, p.options(extra));
    assert.match(r.problems.join('\n'), why);
    assert.equal(r.batches, 0);
    assert.deepEqual(await p.count(), { batches: 9, logRows: 9 });
  };
  try {
    const path = join(p.manifestDir, manifestName(3, 7));
    const text = readFileSync(path, 'utf8');
    const m = JSON.parse(text) as ArchiveManifest;
    writeFileSync(path, JSON.stringify({ ...m, leaves: [m.leaves[1], m.leaves[0], ...m.leaves.slice(2)] }));
    await refused(/do not reach the signed root at 7/);
    writeFileSync(path, text);
    rmSync(join(p.manifestDir, manifestName(0, 3)));
    await refused(/does not start where the previous one ended \(0\)/);

    // Rebuild a clean archive of [0,3) and [3,7) to test the blobs.
    await archiveAgain(p);
    rmSync(join(p.blobDir, 'default', archiveBlobName(0, 3)));
    await refused(/segment 0\.\.2: a tenant blob cannot be read/);
    await archiveAgain(p);
    const blob = join(p.blobDir, 'default', archiveBlobName(3, 7));
    const bytes = readFileSync(blob);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 20) ^ 1, bytes.length - 20);
    writeFileSync(blob, bytes);
    await refused(/segment 3\.\.6: a tenant blob cannot be read/);
    await archiveAgain(p);

    // Inside retention: 8-year-old entries under a 9-year retention stay; below six years is refused outright.
    const keep = await pruneArchived(db, p.options({ retentionYears: 9 }));
    assert.deepEqual([keep.problems, keep.target, keep.batches], [[], 0, 0]);
    await assert.rejects(pruneArchived(db, p.options({ retentionYears: 3 })), /keeps at least 6 years/);
    assert.deepEqual(await p.count(), { batches: 9, logRows: 9 });
    // All checks passing, it prunes; interrupted after its first step, the next run finishes the job.
    let calls = 0;
    const flaky = { query: async (sql: string, params?: unknown[]) => {
      if (++calls > 1) throw new Error('connection lost');
      return db.query(sql, params);
    } } as Queryable;
    await assert.rejects(pruneArchived(db, p.options({ step: 3, pruner: flaky })), /connection lost/);
    assert.deepEqual(await p.count(), { batches: 9 - 3 + 2, logRows: 9 - 3 }, 'one step of 3 batches went; a success and a failure entry were added');
    const resumed = await pruneArchived(db, p.options({ step: 3 }));
    assert.deepEqual([resumed.problems, resumed.prunedBefore, resumed.target, resumed.batches], [[], 7, 7, 4]);
    assert.deepEqual(await p.count(), { batches: 2 + 3, logRows: 2 });
  } finally {
    await p.close();
  }
});

/** The audit API's three routes over the proof service, as verify-remote.ts calls them. */
function apiOf(db: Db) {
  return async (path: string) => {
    const u = new URL(path, 'http://x');
    const n = (k: string) => (u.searchParams.has(k) ? Number(u.searchParams.get(k)) : undefined);
    try {
      if (u.pathname === '/audit/tree-head') return { status: 200, body: await newestHead(db) as unknown };
      if (u.pathname === '/audit/proof/inclusion') return { status: 200, body: await inclusion(db, n('seq')!, n('treeSize')) as unknown };
      return { status: 200, body: await consistency(db, n('from')!, n('to')) as unknown };
    } catch (err) {
      if (err instanceof HavenError) return { status: err.category === 'gone' ? 410 : 404, body: {} as unknown };
      throw err;
    }
  };
}

test('a prune of the whole log leaves the sequencer and verification working from the prune point', async () => {
  const p = await prunableLog(true);
  const db = p.f.testDb.db;
  try {
    const r = await pruneArchived(db, p.options());
    assert.deepEqual([r.problems, r.target, r.batches], [[], 9, 9]);
    assert.deepEqual(await p.count(), { batches: 1, logRows: 0 }, 'only the queued audit-prune entry is left');
    await p.f.sequencer.drain();
    await p.f.addRound(2);
    const v = await verify(p);
    assert.deepEqual(v.problems, []);
    assert.deepEqual([v.startedAt, v.logSize, v.entries], [9, 12, 3]);

    // A backup of the pruned installation restores with its prune record: the copy verifies from there too.
    const out = join(p.blobDir, '..', 'backup');
    await createBackup({ db, kms: p.kms, out });
    const copy = await createTestDb();
    try {
      await restoreBackup({ db: copy.db, kms: p.kms, from: out, keyStore: db });
      const restored = await verifyAuditLog(copy.db, { witnessPath: p.f.witnessPath, archiveDir: p.manifestDir });
      assert.deepEqual(restored.problems, []);
      assert.deepEqual([restored.startedAt, restored.pruned.firstKept], [9, 9]);
    } finally {
      await copy.drop();
    }
  } finally {
    await p.close();
  }
});

async function archiveAgain(p: PruneFixture): Promise<void> {
  rmSync(p.manifestDir, { recursive: true, force: true });
  rmSync(p.blobDir, { recursive: true, force: true });
  const kms = createLocalKms({ dataDir: join(p.blobDir, '..'), env: 'test', logger: silentLogger });
  const keyring = createKeyring({ db: p.f.testDb.db, kms });
  try {
    const blobs = createLocalBlobStore({ dir: p.blobDir, sealer: keyringSealer(keyring) });
    await archiveOldEntries(p.f.testDb.db, { blobs, manifestDir: p.manifestDir, now: new Date(), retentionYears: 6, maxEntries: 4 });
  } finally {
    await keyring.close();
    await kms.close();
  }
}

test("the server's role cannot delete audit rows, directly or through audit_prune; the function itself refuses what is not archived or inside retention", async () => {
  const p = await prunableLog();
  const db = p.f.testDb.db;
  const tag = randomBytes(4).toString('hex');
  const owner = `haven_t_owner_${tag}`;
  const server = `haven_t_server_${tag}`;
  const pruner = `haven_t_pruner_${tag}`;
  const admin = new pg.Client({ connectionString: p.f.testDb.url });
  await admin.connect();
  const as = async (role: string, sql: string, params: unknown[] = []) => {
    await admin.query('BEGIN');
    try {
      await admin.query(`SET LOCAL ROLE ${role}`);
      return await admin.query(sql, params);
    } finally {
      await admin.query('ROLLBACK');
    }
  };
  try {
    // The external-PostgreSQL layout of docs/security/audit.md: a separate owner, Haven's role with
    // SELECT and INSERT only, and a pruning role with nothing but EXECUTE on audit_prune.
    for (const r of [owner, server, pruner]) await admin.query(`CREATE ROLE ${r} NOLOGIN`);
    for (const t of ['audit_batch', 'audit_batch_log', 'audit_tree_head', 'audit_signing_key', 'audit_prune', 'audit_archive_segment']) await admin.query(`ALTER TABLE ${t} OWNER TO ${owner}`);
    await admin.query(`ALTER FUNCTION audit_prune(bigint, bytea, timestamptz, text, int) OWNER TO ${owner}`);
    await admin.query(`GRANT SELECT, INSERT ON audit_batch, audit_batch_log, audit_tree_head, audit_signing_key, audit_archive_segment TO ${server}`);
    await admin.query(`GRANT SELECT ON audit_prune TO ${server}`);
    await admin.query(`GRANT EXECUTE ON FUNCTION audit_prune(bigint, bytea, timestamptz, text, int) TO ${pruner}`);
    const root7 = (await db.query<{ root_hash: Buffer }>('SELECT root_hash FROM audit_tree_head WHERE tree_size = 7')).rows[0]!.root_hash;
    const oldCutoff = new Date(Date.now() - 7 * 365.25 * 86_400_000);
    const call = (role: string, through: number, root: Buffer, cutoff = oldCutoff) => as(role, 'SELECT * FROM audit_prune($1, $2, $3, $4, 100)', [through, root, cutoff, 'attacker']);

    await assert.rejects(as(server, 'DELETE FROM audit_batch'), /permission denied/);
    await assert.rejects(as(server, 'DELETE FROM audit_batch_log'), /permission denied/);
    await assert.rejects(as(server, 'TRUNCATE audit_batch'), /permission denied/);
    await assert.rejects(as(server, "INSERT INTO audit_prune (through_seq, root_hash, cutoff, batches, entries, actor) VALUES (9, '\\x00', now(), 0, 0, 'x')"), /permission denied/);
    await assert.rejects(call(server, 7, root7), /permission denied for function audit_prune/);
    // Even the owner cannot delete outside audit_prune: the trigger wants a recorded prune point.
    await assert.rejects(as(owner, "SELECT set_config('haven.audit_prune', '100', true); DELETE FROM audit_batch WHERE last_at < now() - interval '7 years'"), /append-only/);
    await assert.rejects(as(owner, 'DELETE FROM audit_batch_log WHERE first_seq < 3'), /append-only/);
    // The pruning role: nothing archived is registered yet, a seq that is no head, a wrong root, a
    // range inside retention — each refused.
    await assert.rejects(call(pruner, 7, root7), /not the end of a registered archive segment/);
    await db.query('INSERT INTO audit_archive_segment (from_seq, to_seq, root_hash, manifest_sha256) VALUES (0, 3, (SELECT root_hash FROM audit_tree_head WHERE tree_size = 3), $1), (3, 7, $2, $1)', [Buffer.alloc(32), root7]);
    await assert.rejects(call(pruner, 5, root7), /no signed tree head of size 5/);
    await assert.rejects(call(pruner, 7, Buffer.alloc(32)), /no signed tree head of size 7 with that root/);
    await assert.rejects(call(pruner, 7, root7, new Date()), /inside the minimum retention/);
    const root9 = (await db.query<{ root_hash: Buffer }>('SELECT root_hash FROM audit_tree_head WHERE tree_size = 9')).rows[0]!.root_hash;
    await assert.rejects(db.query('INSERT INTO audit_archive_segment (from_seq, to_seq, root_hash, manifest_sha256) VALUES (8, 9, $1, $2)', [root9, Buffer.alloc(32)]), /does not continue the registered archive/);
    await assert.rejects(call(pruner, 9, root9), /not the end of a registered archive segment/);
    assert.deepEqual(await p.count(), { batches: 9, logRows: 9 });
    // What is registered, archived and past retention goes (here in a transaction rolled back).
    const ok = await call(pruner, 7, root7);
    assert.deepEqual(ok.rows, [{ pruned_batches: '7', pruned_entries: '7' }]);
  } finally {
    await admin.end();
    await p.close();
    const c = new pg.Client({ connectionString: testServerUrl() });
    await c.connect();
    for (const r of [owner, server, pruner]) await c.query(`DROP ROLE IF EXISTS ${r}`).catch(() => undefined);
    await c.end().catch(() => undefined);
  }
});
