import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { createSequencer } from '../../src/audit/sequencer.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { asAttacker, batchAt, changeEntryAt, ctxFor, logFactory, type AuditFixture } from './support.js';

// Each test builds its own log: 3 rounds of 5 entries, so signed heads at sizes 5, 10 and 15.
const log = logFactory(3, 5);

function expectProblem(problems: string[], ...parts: (string | RegExp)[]): void {
  const hit = problems.find((p) => parts.every((part) => (typeof part === 'string' ? p.includes(part) : part.test(p))));
  assert.ok(hit, `expected a problem matching ${parts.join(' & ')}; got:\n  ${problems.join('\n  ')}`);
}

let clean: AuditFixture;
before(async () => {
  clean = await log();
});

test('an untouched log verifies: every leaf, every database head and every witness head', async () => {
  const report = await verifyAuditLog(clean.testDb.db, { witnessPath: clean.witnessPath });
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(report.entries, 15);
  assert.equal(report.databaseHeads, 3);
  assert.equal(report.witnessHeads, 3);
  const partial = await verifyAuditLog(clean.testDb.db, { witnessPath: clean.witnessPath, fromSeq: 12 });
  assert.equal(partial.ok, true);
  assert.equal(partial.startedAt, 10);
  assert.equal(partial.entries, 5);
});

test('the database refuses UPDATE, DELETE and TRUNCATE of audit rows', async () => {
  const db = clean.testDb.db;
  await assert.rejects(db.query(`UPDATE audit_batch SET first_at = now()`), /append-only/);
  await assert.rejects(db.query('DELETE FROM audit_batch_log WHERE first_seq = 0'), /append-only/);
  await assert.rejects(db.query('DELETE FROM audit_batch'), /append-only/);
  await assert.rejects(db.query('TRUNCATE audit_tree_head'), /append-only/);
});

test('one changed byte in an entry is named by its seq', async () => {
  const f = await log();
  await asAttacker(f.testDb, [changeEntryAt(7, (e) => `overlay(${e} placing '\\x5a'::bytea from 30 for 1)`)]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  assert.equal(report.ok, false);
  expectProblem(report.problems, 'seq 7 ', 'altered');
  expectProblem(report.problems, 'size 10', 'first differing entry at seq 7');
});

test('a changed searchable column (hiding a patient) is named', async () => {
  const f = await log();
  await asAttacker(f.testDb, [`UPDATE audit_batch SET patient_ids = '{}' WHERE batch_id = ${batchAt(3)}`]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  expectProblem(report.problems, 'seq 3 ', 'patient_ids');
});

/**
 * A batch column that searches narrow by (migrations 040, 041), narrowed by one value, is named at
 * the entry's seq; set to NULL (a batch written before the column existed) it is not checked.
 */
async function narrowedColumnIsNamed(column: 'agent_ids' | 'entity_ids', seq: number): Promise<void> {
  const f = await log();
  const values = await f.testDb.db.query<{ v: string[] }>(`SELECT ${column} AS v FROM audit_batch WHERE batch_id = ${batchAt(seq)}`);
  assert.ok(values.rows[0]!.v.length >= 1, `new batches fill ${column}`);
  await asAttacker(f.testDb, [`UPDATE audit_batch SET ${column} = ${column}[2:] WHERE batch_id = ${batchAt(seq)}`]);
  expectProblem((await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath })).problems, `seq ${seq} `, column);
  const g = await log();
  await asAttacker(g.testDb, [`UPDATE audit_batch SET ${column} = NULL WHERE batch_id = ${batchAt(seq)}`]);
  assert.deepEqual((await verifyAuditLog(g.testDb.db, { witnessPath: g.witnessPath })).problems, []);
}

test('a narrowed agent column (hiding an access from a search by user) is named; a batch without one is not checked', () => narrowedColumnIsNamed('agent_ids', 5));

test('a narrowed entity column (hiding an access from a search by resource) is named; a batch without one is not checked', () => narrowedColumnIsNamed('entity_ids', 6));

test('a cleared failure flag (hiding a refused access from a search for failures) is named; a batch without one is not checked', async () => {
  const f = await log();
  // Entry 15 is a refused read: its batch is flagged.
  await f.recorder.record(ctxFor(15), [{ action: 'read', outcome: 'failure', outcomeCode: 'forbidden', resources: [{ type: 'Patient', id: 'p15', patient: 'Patient/p15' }] }]);
  await f.sequencer.drain();
  const flags = await f.testDb.db.query<{ failed: boolean }>(`SELECT failed FROM audit_batch WHERE batch_id IN (${batchAt(14)}, ${batchAt(15)}) ORDER BY batch_id`);
  assert.deepEqual(flags.rows.map((r) => r.failed), [false, true], 'a batch says whether it holds a failure');
  assert.deepEqual((await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath })).problems, []);
  await asAttacker(f.testDb, [`UPDATE audit_batch SET failed = false WHERE batch_id = ${batchAt(15)}`]);
  expectProblem((await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath })).problems, 'seq 15 ', 'failed');
  // Flagging a batch of successes only widens what a search reads; NULL is a batch from before migration 045.
  const g = await log();
  await asAttacker(g.testDb, [`UPDATE audit_batch SET failed = true WHERE batch_id = ${batchAt(3)}`, `UPDATE audit_batch SET failed = NULL WHERE batch_id = ${batchAt(4)}`]);
  assert.deepEqual((await verifyAuditLog(g.testDb.db, { witnessPath: g.witnessPath })).problems, []);
});

test('a deleted entry, and a deleted log row, are named', async () => {
  const f = await log();
  await asAttacker(f.testDb, [`DELETE FROM audit_batch WHERE batch_id = ${batchAt(4)}`]);
  expectProblem((await verifyAuditLog(f.testDb.db)).problems, 'seq 4 ', 'missing');
  const g = await log();
  await asAttacker(g.testDb, ['DELETE FROM audit_batch_log WHERE first_seq = 4']);
  const report = await verifyAuditLog(g.testDb.db, { witnessPath: g.witnessPath });
  expectProblem(report.problems, 'gap: seq 4 ');
  expectProblem(report.problems, 'neither in the log nor queued');
});

test('two entries swapped in the log are named as a reordering', async () => {
  const f = await log();
  await asAttacker(f.testDb, [
    'UPDATE audit_batch_log SET first_seq = 1000 WHERE first_seq = 2',
    'UPDATE audit_batch_log SET first_seq = 2 WHERE first_seq = 3',
    'UPDATE audit_batch_log SET first_seq = 3 WHERE first_seq = 1000',
  ]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  expectProblem(report.problems, 'seq 3 ', 'reordered');
  expectProblem(report.problems, 'size 5', 'root does not match');
});

test('a truncated tail is named, even when the attacker also removes the database heads', async () => {
  const f = await log();
  await asAttacker(f.testDb, ['DELETE FROM audit_batch WHERE batch_id IN (SELECT batch_id FROM audit_batch_log WHERE first_seq >= 12)', 'DELETE FROM audit_batch_log WHERE first_seq >= 12']);
  expectProblem((await verifyAuditLog(f.testDb.db)).problems, 'log truncated', 'database tree head at size 15', 'first missing seq 12');
  await asAttacker(f.testDb, ['DELETE FROM audit_tree_head WHERE tree_size > 10']);
  const dbOnly = await verifyAuditLog(f.testDb.db);
  assert.equal(dbOnly.ok, true, 'without the witness a clean cut at a head is invisible: that is what the witness is for');
  expectProblem((await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath })).problems, 'log truncated', 'witness tree head at size 15', 'first missing seq 12');
});

test('a whole log replaced by a consistent forgery signed with another key is caught by the witness', async () => {
  const f = await log();
  const wipe = ['audit_batch_log', 'audit_tree_head', 'audit_signing_key_wrap', 'audit_signing_key', 'audit_batch_queue', 'audit_batch'].map((t) => `DELETE FROM ${t}`);
  await asAttacker(f.testDb, wipe);
  // The attacker rebuilds 14 plausible entries with Haven's own code and a new key, but cannot rewrite the witness.
  const forger = createSequencer({ db: f.testDb.db, clock: systemClock, logger: silentLogger, witnessPath: `${f.witnessPath}.forged`, intervalMs: 50 });
  await f.sequencer.stop();
  for (let r = 0; r < 2; r++) {
    await Promise.all(Array.from({ length: 7 }, (_, i) => f.recorder.record(ctxFor(100 + i), [{ action: 'read', outcome: 'success', resources: [] }])));
    await forger.drain();
  }
  await forger.stop();
  assert.equal((await verifyAuditLog(f.testDb.db)).ok, true, 'internally consistent: only an outside anchor can tell');
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  assert.equal(report.ok, false);
  expectProblem(report.problems, 'not the trusted key', 'replaced');
  expectProblem(report.problems, 'witness tree head at size 5', 'root does not match');
});

test('inside a batch of many entries, one changed entry, a narrowed patient list and an added entry are each named', async () => {
  const f = await log(); // seqs 0..14, one entry per batch
  // One read naming five patients' resources in five entries: one batch, seqs 15..19.
  const facts = Array.from({ length: 5 }, (_, i) => ({ action: 'read' as const, outcome: 'success' as const, resources: [{ type: 'Patient', id: `m${i}`, version: 1, patient: `Patient/m${i}` }] }));
  await f.recorder.record(ctxFor(500), facts);
  await f.sequencer.drain();
  const batch = await f.testDb.db.query<{ n: number; patients: string[] }>(`SELECT cardinality(entries) AS n, patient_ids AS patients FROM audit_batch WHERE batch_id = ${batchAt(17)}`);
  assert.equal(batch.rows[0]!.n, 5, 'the five entries share one batch row');
  assert.deepEqual(batch.rows[0]!.patients.sort(), ['Patient/m0', 'Patient/m1', 'Patient/m2', 'Patient/m3', 'Patient/m4']);
  assert.equal((await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath })).ok, true);

  await asAttacker(f.testDb, [
    changeEntryAt(17, (e) => `overlay(${e} placing '\\x5a'::bytea from 30 for 1)`),
    `UPDATE audit_batch SET patient_ids = array_remove(patient_ids, 'Patient/m3') WHERE batch_id = ${batchAt(17)}`,
  ]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  expectProblem(report.problems, 'seq 17 ', 'altered');
  expectProblem(report.problems, 'seq 18 ', 'patient_ids');
  expectProblem(report.problems, 'size 20', 'first differing entry at seq 17');

  const g = await log();
  await g.recorder.record(ctxFor(600), facts.slice(0, 2));
  await g.sequencer.drain();
  // A forged entry appended to a sequenced batch would show in searches: it is named as inserted.
  await asAttacker(g.testDb, [`UPDATE audit_batch SET entries = entries || entries[1], leaf_hashes = leaf_hashes || leaf_hashes[1] WHERE batch_id = ${batchAt(15)}`]);
  expectProblem((await verifyAuditLog(g.testDb.db)).problems, 'beyond the entries that were sequenced', 'inserted');
});
