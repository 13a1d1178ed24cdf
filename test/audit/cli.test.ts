import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { asAttacker, auditFixture } from './support.js';

const bin = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'haven.js');

function verifyCli(url: string, witness: string, extra: string[] = []) {
  const env = { PATH: process.env.PATH ?? '', DATABASE_URL: url, HAVEN_DATA_DIR: dirname(dirname(witness)) };
  return spawnSync(process.execPath, [bin, 'audit', 'verify', ...extra], { env, encoding: 'utf8' });
}

test('haven audit verify exits 0 on an intact log and 3 naming the entry after tampering', async () => {
  const f = await auditFixture();
  try {
    await f.addRound(4);
    await f.addRound(4);
    const ok = verifyCli(f.testDb.url, f.witnessPath);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /8 entries/);
    assert.match(ok.stdout, /2 in the witness/);
    const partial = verifyCli(f.testDb.url, f.witnessPath, ['--from', '5']);
    assert.equal(partial.status, 0, partial.stderr);
    assert.match(partial.stdout, /verified seq 4\.\.7/);
    await asAttacker(f.testDb, [`UPDATE audit_entry SET canonical = overlay(canonical placing '\\x41'::bytea from 10 for 1) WHERE entry_id = (SELECT entry_id FROM audit_log WHERE seq = 5)`]);
    const bad = verifyCli(f.testDb.url, f.witnessPath);
    assert.equal(bad.status, 3);
    assert.match(bad.stderr, /seq 5 \(entry \d+\): the entry's bytes differ/);
  } finally {
    await f.sequencer.stop();
    await f.testDb.drop();
  }
});
