import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { createSequencer } from '../../src/audit/sequencer.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { asAttacker, ctxFor, entryAt, logFactory, type AuditFixture } from './support.js';

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
  await assert.rejects(db.query(`UPDATE audit_entry SET action = 'x'`), /append-only/);
  await assert.rejects(db.query('DELETE FROM audit_log WHERE seq = 0'), /append-only/);
  await assert.rejects(db.query('TRUNCATE audit_tree_head'), /append-only/);
});

test('one changed byte in an entry is named by its seq', async () => {
  const f = await log();
  await asAttacker(f.testDb, [`UPDATE audit_entry SET canonical = overlay(canonical placing '\\x5a'::bytea from 30 for 1) WHERE entry_id = ${entryAt(7)}`]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  assert.equal(report.ok, false);
  expectProblem(report.problems, 'seq 7 ', 'altered');
  expectProblem(report.problems, 'size 10', 'first differing entry at seq 7');
});

test('a changed searchable column (hiding a patient) is named', async () => {
  const f = await log();
  await asAttacker(f.testDb, [`UPDATE audit_entry SET patient_ids = '{}' WHERE entry_id = ${entryAt(3)}`]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  expectProblem(report.problems, 'seq 3 ', 'patient_ids');
});

test('a deleted entry, and a deleted log row, are named', async () => {
  const f = await log();
  await asAttacker(f.testDb, [`DELETE FROM audit_entry WHERE entry_id = ${entryAt(4)}`]);
  expectProblem((await verifyAuditLog(f.testDb.db)).problems, 'seq 4 ', 'missing');
  const g = await log();
  await asAttacker(g.testDb, ['DELETE FROM audit_log WHERE seq = 4']);
  const report = await verifyAuditLog(g.testDb.db, { witnessPath: g.witnessPath });
  expectProblem(report.problems, 'gap: seq 4 ');
  expectProblem(report.problems, 'neither in the log nor queued');
});

test('two entries swapped in the log are named as a reordering', async () => {
  const f = await log();
  await asAttacker(f.testDb, [
    'UPDATE audit_log SET seq = 1000 WHERE seq = 2',
    'UPDATE audit_log SET seq = 2 WHERE seq = 3',
    'UPDATE audit_log SET seq = 3 WHERE seq = 1000',
  ]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath });
  expectProblem(report.problems, 'seq 3 ', 'reordered');
  expectProblem(report.problems, 'size 5', 'root does not match');
});

test('a truncated tail is named, even when the attacker also removes the database heads', async () => {
  const f = await log();
  await asAttacker(f.testDb, ['DELETE FROM audit_entry WHERE entry_id IN (SELECT entry_id FROM audit_log WHERE seq >= 12)', 'DELETE FROM audit_log WHERE seq >= 12']);
  expectProblem((await verifyAuditLog(f.testDb.db)).problems, 'log truncated', 'database tree head at size 15', 'first missing seq 12');
  await asAttacker(f.testDb, ['DELETE FROM audit_tree_head WHERE tree_size > 10']);
  const dbOnly = await verifyAuditLog(f.testDb.db);
  assert.equal(dbOnly.ok, true, 'without the witness a clean cut at a head is invisible: that is what the witness is for');
  expectProblem((await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath })).problems, 'log truncated', 'witness tree head at size 15', 'first missing seq 12');
});

test('a whole log replaced by a consistent forgery signed with another key is caught by the witness', async () => {
  const f = await log();
  const wipe = ['audit_log', 'audit_tree_head', 'audit_signing_key_wrap', 'audit_signing_key', 'audit_queue', 'audit_entry'].map((t) => `DELETE FROM ${t}`);
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
