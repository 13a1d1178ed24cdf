import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { appendLeaf, appendRangeLeaf, emptyFrontier, emptyRangeFrontier, frontierRoot, joinFrontier, rootOf } from '../../src/audit/merkle.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { splitRanges } from '../../src/audit/verify-parallel.js';
import { buildAuditLogFixture } from '../../bench/audit-log-fixture.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { asAttacker, batchAt, changeEntryAt, logFactory } from './support.js';
import { tempDir } from '../support/temp-dir.js';

function expectProblem(problems: string[], ...parts: string[]): void {
  assert.ok(
    problems.some((p) => parts.every((part) => p.includes(part))),
    `expected a problem with ${parts.join(' & ')}; got:\n  ${problems.join('\n  ')}`,
  );
}

test('a range frontier joined onto the frontier before it equals the single-pass tree, at every split', () => {
  const leaves = Array.from({ length: 70 }, () => randomBytes(32));
  for (let split = 0; split <= leaves.length; split++) {
    const left = emptyFrontier();
    leaves.slice(0, split).forEach((l) => appendLeaf(left, l));
    const right = emptyRangeFrontier(split);
    for (let end = split; end < leaves.length; end++) {
      appendRangeLeaf(right, leaves[end]!);
      const joined = joinFrontier(left, right);
      assert.equal(joined.size, end + 1);
      assert.ok(frontierRoot(joined).equals(rootOf(leaves, 0, end + 1)), `split ${split}, size ${end + 1}`);
    }
  }
  assert.throws(() => joinFrontier(emptyFrontier(), emptyRangeFrontier(3)), /starts at 3/);
});

test('ranges cover the log without overlap; the last is open-ended', () => {
  const tasks = splitRanges(10, 31, 3, { checkpoints: [], checkColumns: false, maxProblems: 5 });
  assert.deepEqual(tasks.map((t) => [t.from, t.to, t.first]), [[10, 17, true], [17, 24, false], [24, undefined, false]]);
  assert.equal(splitRanges(4, 4, 2, { checkpoints: [], checkColumns: false, maxProblems: 5 }).length, 1);
});

// 4 rounds of 5 entries: heads at 5, 10, 15, 20. Three ranges split the log at seq 7 and 14.
const log = logFactory(4, 5);

test('range-parallel verification of an intact log agrees with one pass, in worker threads', async () => {
  const f = await log();
  for (const parallelism of [1, 2, 3]) {
    const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath, parallelism });
    assert.deepEqual(report.problems, [], `parallelism ${parallelism}`);
    assert.equal(report.entries, 20);
    assert.equal(report.logSize, 20);
  }
  const partial = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath, parallelism: 2, fromSeq: 12 });
  assert.deepEqual(partial.problems, []);
  assert.equal(partial.startedAt, 10);
  assert.equal(partial.entries, 10);
});

test('a tampered entry in a later range is named, and so is the head after it', async () => {
  const f = await log();
  await asAttacker(f.testDb, [changeEntryAt(16, (e) => `overlay(${e} placing '\\x5a'::bytea from 30 for 1)`)]);
  const report = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath, parallelism: 3 });
  assert.equal(report.ok, false);
  expectProblem(report.problems, 'seq 16 ', 'altered');
  expectProblem(report.problems, 'database tree head at size 20', 'first differing entry at seq 16');
  expectProblem(report.problems, 'witness tree head at size 20', 'first differing entry at seq 16');
  assert.ok(!report.problems.some((p) => /size (5|10|15) /.test(p)), report.problems.join('\n'));
  await asAttacker(f.testDb, [`UPDATE audit_batch SET last_at = first_at - interval '1 day' WHERE batch_id = ${batchAt(9)}`]);
  expectProblem((await verifyAuditLog(f.testDb.db, { parallelism: 3 })).problems, 'seq 9 ', 'column last_at');
});

test('rows missing at the end of a range, and entries swapped across a range boundary, are named', async () => {
  const f = await log();
  await asAttacker(f.testDb, ['DELETE FROM audit_batch_log WHERE first_seq IN (12, 13)']);
  const gap = await verifyAuditLog(f.testDb.db, { witnessPath: f.witnessPath, parallelism: 3 });
  expectProblem(gap.problems, 'gap: seq 12..13 missing', 'next present: seq 14');
  expectProblem(gap.problems, 'size 15', 'first differing entry at seq 12');
  const g = await log();
  await asAttacker(g.testDb, ['UPDATE audit_batch_log SET first_seq = 1000 WHERE first_seq = 6', 'UPDATE audit_batch_log SET first_seq = 6 WHERE first_seq = 7', 'UPDATE audit_batch_log SET first_seq = 7 WHERE first_seq = 1000']);
  const swapped = await verifyAuditLog(g.testDb.db, { witnessPath: g.witnessPath, parallelism: 3 });
  expectProblem(swapped.problems, 'seq 7 ', 'reordered');
  expectProblem(swapped.problems, 'size 10', 'first differing entry at seq 7');
});

let big: TestDb;
let witnessPath: string;
before(async () => {
  big = await createTestDb();
  witnessPath = join(tempDir('haven-verify-fixture-'), 'witness.jsonl');
  await buildAuditLogFixture(big.db, { entries: 6000, headEvery: 1000, witnessPath, threads: 2, blockSize: 700, batchEntries: 20 });
});
after(() => big.drop());

test('the bulk fixture builds a log that verifies, with its heads in the witness', async () => {
  const [one, two] = [await verifyAuditLog(big.db, { witnessPath, parallelism: 1 }), await verifyAuditLog(big.db, { witnessPath, parallelism: 2 })];
  for (const r of [one, two]) {
    assert.deepEqual(r.problems, []);
    assert.equal(r.entries, 6000);
    assert.equal(r.databaseHeads, 6);
    assert.equal(r.witnessHeads, 6);
  }
  const cols = await big.db.query<{ n: string; patients: string; batches: string }>(
    "SELECT count(*) AS n, count(*) FILTER (WHERE patient_ids <> '{}') AS patients, count(DISTINCT batch_id) AS batches FROM audit_entry",
  );
  assert.equal(Number(cols.rows[0]!.n), 6000);
  assert.equal(Number(cols.rows[0]!.batches), 300, 'batches of 20 entries');
  assert.ok(Number(cols.rows[0]!.patients) > 5000, 'most entries name patients');
  const idx = await big.db.query<{ n: string }>("SELECT count(*) AS n FROM pg_indexes WHERE tablename IN ('audit_batch', 'audit_batch_log')");
  assert.equal(Number(idx.rows[0]!.n), 13, 'keys and indexes rebuilt (thirteen through migration 046)');
  await assert.rejects(big.db.query('DELETE FROM audit_batch_log WHERE first_seq = 0'), /append-only/);
  const cli = verifyCli(big.url, ['--witness', witnessPath, '--parallel', '2']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /6000 entries; verified seq 0\.\.5999/);
  await asAttacker(big, [changeEntryAt(4500, (e) => `${e} || ' '::bytea`)]);
  const bad = await verifyAuditLog(big.db, { witnessPath, parallelism: 2 });
  expectProblem(bad.problems, 'seq 4500 ', 'altered');
  expectProblem(bad.problems, 'witness tree head at size 5000', 'first differing entry at seq 4500');
  const failed = verifyCli(big.url, ['--witness', witnessPath, '--parallel', '2', '--skip-columns']);
  assert.equal(failed.status, 3);
  assert.match(failed.stderr, /seq 4500 \(entry 4501\): the entry's bytes differ/);
});

test('batch columns are checked for every entry of every batch, also deep inside a range', async () => {
  // The verifier reads a batch's columns from its first row only (verify-range.ts): a batch far from the
  // range's start, and entries after the batch's first, must still be checked against them.
  await asAttacker(big, [`UPDATE audit_batch SET patient_ids = '{}' WHERE batch_id = ${batchAt(5210)}`]);
  for (const parallelism of [1, 2]) {
    const { problems } = await verifyAuditLog(big.db, { parallelism });
    expectProblem(problems, 'seq 5215 ', 'column patient_ids');
    const flagged = problems.filter((p) => p.includes('patient_ids')).map((p) => Number(/seq (\d+) /.exec(p)![1]));
    assert.ok(flagged.length > 10, `most of the 20 entries name a patient: ${flagged.length}`);
    assert.ok(flagged.every((seq) => seq >= 5200 && seq < 5220), `only the altered batch: ${flagged.join(', ')}`);
  }
});

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'haven.js');
function verifyCli(url: string, extra: string[]) {
  const env = { PATH: process.env.PATH ?? '', DATABASE_URL: url, HAVEN_DATA_DIR: dirname(witnessPath) };
  return spawnSync(process.execPath, [bin, 'audit', 'verify', ...extra], { env, encoding: 'utf8' });
}
