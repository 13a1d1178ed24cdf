import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { createAuditRecorder } from '../../src/audit/recorder.js';
import { createSequencer } from '../../src/audit/sequencer.js';
import { parseArgs } from '../../src/cli/args.js';
import { keysCommand } from '../../src/cli/keys.js';
import { loadConfig } from '../../src/config/index.js';
import { createLocalKms } from '../../src/crypto/index.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { createTestDb } from '../support/db.js';
import { ctxFor } from './support.js';
import { tempDir } from '../support/temp-dir.js';

test('haven keys rotate --kek re-wraps the audit signing key too, and the audit log records both', async () => {
  const db = await createTestDb();
  const dataDir = tempDir('haven-audit-cli-');
  const kms = createLocalKms({ dataDir, env: 'test', logger: silentLogger });
  try {
    const seq = createSequencer({ db: db.db, clock: systemClock, logger: silentLogger, witnessPath: join(dataDir, 'audit', 'witness.jsonl'), intervalMs: 50, kms });
    const recorder = createAuditRecorder({ db: db.db, clock: systemClock, logger: silentLogger, node: 'n', timeoutMs: 2000 });
    await recorder.record(ctxFor(1), [{ action: 'read', outcome: 'success', resources: [] }]);
    await seq.drain();
    await seq.stop();
    const before = (await db.db.query<{ key_id: string; kek_id: string }>('SELECT key_id, kek_id FROM audit_signing_key_wrap')).rows[0]!;
    const lines: string[] = [];
    const config = loadConfig({ HAVEN_ENV: 'test', HAVEN_DATA_DIR: dataDir, DATABASE_URL: db.url, HAVEN_LOG_LEVEL: 'silent' });
    assert.equal(await keysCommand(parseArgs(['keys', 'rotate', '--kek']), config, silentLogger, (l) => lines.push(l)), 0);
    assert.match(lines.join('\n'), /audit signing key\(s\) re-wrapped: 1/);
    const afterRow = (await db.db.query<{ kek_id: string }>('SELECT kek_id FROM audit_signing_key_wrap WHERE key_id = $1', [before.key_id])).rows[0]!;
    assert.notEqual(afterRow.kek_id, before.kek_id);
    const ops = await db.db.query<{ c: Buffer }>(`SELECT canonical AS c FROM audit_entry WHERE action = 'operation' ORDER BY entry_id`);
    const names = ops.rows.map((r) => (JSON.parse(r.c.toString('utf8')) as { operation?: string }).operation);
    assert.deepEqual(names, ['audit-signing-key-create', 'audit-signing-key-unwrap', 'keys-rotate-kek', 'audit-signing-key-rewrap']);
    // The restarted sequencer unwraps the re-wrapped key with the rotated KMS.
    const kms2 = createLocalKms({ dataDir, env: 'test', logger: silentLogger });
    const seq2 = createSequencer({ db: db.db, clock: systemClock, logger: silentLogger, witnessPath: join(dataDir, 'audit', 'witness.jsonl'), intervalMs: 50, kms: kms2 });
    await recorder.record(ctxFor(2), [{ action: 'read', outcome: 'success', resources: [] }]);
    assert.ok((await seq2.drain()) >= 1);
    await seq2.stop();
    await kms2.close();
  } finally {
    await kms.close();
    await db.drop();
  }
});
