import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { asAttacker, auditFixture, changeEntryAt } from './support.js';

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
    await asAttacker(f.testDb, [changeEntryAt(5, (e) => `overlay(${e} placing '\\x41'::bytea from 10 for 1)`)]);
    const bad = verifyCli(f.testDb.url, f.witnessPath);
    assert.equal(bad.status, 3);
    assert.match(bad.stderr, /seq 5 \(entry \d+\): the entry's bytes differ/);
  } finally {
    await f.sequencer.stop();
    await f.testDb.drop();
  }
});

test('haven audit archive exports entries past retention to encrypted segments with manifests', async () => {
  const f = await auditFixture();
  const dataDir = dirname(dirname(f.witnessPath));
  try {
    await f.addRound(3);
    await f.addRound(2);
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: f.testDb.url, HAVEN_DATA_DIR: dataDir, HAVEN_LOG_LEVEL: 'error' };
    const archive = () => spawnSync(process.execPath, [bin, 'audit', 'archive'], { env, encoding: 'utf8' });
    const none = archive();
    assert.equal(none.status, 0, none.stderr);
    assert.match(none.stdout, /archived 0 segment\(s\), 0 entries older than 6 years/);
    // Age the batches past the six-year retention (as if written in 2018; archiving goes by batch time).
    await asAttacker(f.testDb, [`UPDATE audit_batch SET first_at = first_at - interval '8 years', last_at = last_at - interval '8 years'`]);
    const done = archive();
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, /archived [12] segment\(s\), 5 entries/);
    assert.equal(archive().stdout.match(/archived 0 segment/)?.length, 1, 'nothing is archived twice');
  } finally {
    await f.sequencer.stop();
    await f.testDb.drop();
  }
});

test('haven audit prune is a dry run without --confirm, then removes the archived batches; verify starts after them', async () => {
  const f = await auditFixture();
  const dataDir = dirname(dirname(f.witnessPath));
  try {
    await f.addRound(3);
    await f.addRound(2);
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: f.testDb.url, HAVEN_DATA_DIR: dataDir, HAVEN_LOG_LEVEL: 'error' };
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'audit', ...args], { env, encoding: 'utf8' });
    await asAttacker(f.testDb, [`UPDATE audit_batch SET first_at = first_at - interval '8 years', last_at = last_at - interval '8 years' WHERE batch_id IN (SELECT batch_id FROM audit_batch_log WHERE first_seq < 3)`]);
    assert.equal(run('archive').status, 0);
    const dry = run('prune');
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /dry run: would remove seq 0\.\.2 \(first kept seq 3\); run again with --confirm/);
    const done = run('prune', '--confirm');
    assert.equal(done.status, 0, done.stderr);
    assert.match(done.stdout, /removed 3 batches \(3 entries\); first kept seq 3/);
    await f.sequencer.drain();
    const verified = run('verify');
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /verified seq 3\.\./);
    assert.match(verified.stdout, /pruned: seq 0\.\.2 removed on .*tree head\(s\) up to seq 3 checked against the archive manifests/);
  } finally {
    await f.sequencer.stop();
    await f.testDb.drop();
  }
});
