import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { createSequencer, type Sequencer } from '../../src/audit/sequencer.js';
import { verifyRemoteLog } from '../../src/audit/verify-remote.js';
import { readWitness } from '../../src/audit/witness.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { asAttacker, batchAt, changeEntryAt } from './support.js';

let s: TestServer;
let sequencer: Sequencer;
let witnessPath: string;
before(async () => {
  s = await startTestServer();
  witnessPath = join(s.dataDir, 'audit', 'witness.jsonl');
  sequencer = createSequencer({ db: s.testDb.db, clock: systemClock, logger: silentLogger, witnessPath, intervalMs: 60_000 });
  // Three rounds of activity, each sealed by its own signed head in the witness.
  for (let round = 0; round < 3; round++) {
    await s.fhir('/Patient', { method: 'POST', json: { resourceType: 'Patient', name: [{ family: `Remote${round}` }] } });
    await s.fhir('/Patient?_count=2');
    await sequencer.drain();
  }
});
after(async () => {
  await sequencer.stop();
  await s.close();
});

const get = async (path: string) => {
  const res = await fetch(`${s.baseUrl}${path}`, { headers: { authorization: `Bearer ${await s.token('system/AuditEvent.r')}` } });
  return { status: res.status, body: (await res.json()) as unknown };
};

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'haven.js');
// Asynchronous: the server under test runs in this process and must keep answering the CLI.
function cli(): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [bin, 'audit', 'verify', '--url', s.baseUrl, '--sample', '1000'], {
    env: { PATH: process.env.PATH ?? '', HAVEN_DATA_DIR: s.dataDir, HAVEN_LOG_LEVEL: 'error' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

test('an intact log verifies through the API alone: newest head against every witnessed head, every entry included', async () => {
  const witness = readWitness(witnessPath).records;
  assert.ok(witness.length >= 3, `${witness.length} witnessed heads`);
  const report = await verifyRemoteLog({ get, witness, sampleEntries: 1000 });
  assert.deepEqual(report.problems, []);
  assert.equal(report.headsChecked, witness.length);
  assert.equal(report.entriesChecked, report.treeSize, 'a small log is checked entry by entry');
  const run = await cli();
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /audit log OK \(through the API\): server log at size \d+: \d+ witnessed head\(s\)/);
});

test('an altered entry is named by the inclusion check; a rewritten history by the consistency check', async () => {
  const witness = readWitness(witnessPath).records;
  await asAttacker(s.testDb, [changeEntryAt(2, (e) => `overlay(${e} placing '\\x5a'::bytea from 30 for 1)`)]);
  const altered = await verifyRemoteLog({ get, witness, sampleEntries: 1000 });
  assert.ok(altered.problems.some((p) => p.includes('seq 2:') && p.includes('altered')), altered.problems.join('\n'));
  // A careful attacker also rewrites the leaf hash, so the server's own proofs agree with the altered entry —
  // but then the tree no longer extends what the witness saw.
  await asAttacker(s.testDb, [`UPDATE audit_batch SET leaf_hashes[1] = sha256('\\x00'::bytea || entries[1]) WHERE batch_id = ${batchAt(2)}`]);
  const rewritten = await verifyRemoteLog({ get, witness, sampleEntries: 1000 });
  assert.ok(rewritten.problems.some((p) => p.includes('not consistent with the server')), rewritten.problems.join('\n'));
  const run = await cli();
  assert.equal(run.status, 3);
  assert.match(run.stderr, /audit log NOT OK/);
});
