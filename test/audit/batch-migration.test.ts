import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { buildEntry } from '../../src/audit/entry.js';
import { appendLeaf, emptyFrontier, frontierRoot, leafHash } from '../../src/audit/merkle.js';
import { createSequencer } from '../../src/audit/sequencer.js';
import { keyIdOf, publicKeyFromRaw, rawPublicKey, signTreeHead } from '../../src/audit/tree-head.js';
import { appendWitness } from '../../src/audit/witness.js';
import { verifyAuditLog } from '../../src/audit/verify.js';
import { silentLogger, systemClock } from '../../src/kernel/index.js';
import { migrate } from '../../src/store/migrate.js';
import { createTestDb } from '../support/db.js';
import { ctxFor } from './support.js';
import { tempDir } from '../support/temp-dir.js';

const testDb = await createTestDb({ migrate: false });
after(() => testDb.drop());

/**
 * A log written by the per-entry schema (migrations up to 017): five entries,
 * four sequenced under a signed head (also in the witness), one still queued.
 */
async function oldLog(witnessPath: string) {
  const db = testDb.db;
  await migrate(db, { upTo: '017' }); // before 018 wrapped the signing key, so the old key is plaintext too
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const publicRaw = rawPublicKey(publicKey);
  const key = { keyId: keyIdOf(publicRaw), publicRaw, publicKey: publicKeyFromRaw(publicRaw), privateKey };
  // As the per-entry era kept it: the private key in plaintext PKCS#8 (wrapped by the first leader after 018).
  await db.query('INSERT INTO audit_signing_key (key_id, public_key, private_key) VALUES ($1, $2, $3)', [key.keyId, publicRaw, privateKey.export({ format: 'der', type: 'pkcs8' })]);
  const frontier = emptyFrontier();
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const row = buildEntry(ctxFor(i), 'old-node', new Date(Date.UTC(2026, 5, 1, 12, 0, i)), { action: 'read', outcome: 'success', resources: [{ type: 'Patient', id: `old${i}`, version: 1, patient: `Patient/old${i}` }] });
    const inserted = await db.query<{ entry_id: string }>(
      `INSERT INTO audit_entry (tenant_id, event_id, recorded_at, action, outcome, subject, client_id, patient_ids, request_id, canonical)
       VALUES ('default', $1, $2, 'read', 'success', $3, $3, $4, $5, $6) RETURNING entry_id`,
      [row.entry.id, row.entry.recordedAt, row.entry.who.subject, row.patients, row.entry.requestId, row.canonical],
    );
    const id = inserted.rows[0]!.entry_id;
    ids.push(id);
    if (i === 4) {
      await db.query('INSERT INTO audit_queue (entry_id) VALUES ($1)', [id]);
      continue;
    }
    const leaf = leafHash(row.canonical);
    await db.query(`INSERT INTO audit_log (seq, tenant_id, entry_id, leaf_hash) VALUES ($1, 'default', $2, $3)`, [i, id, leaf]);
    appendLeaf(frontier, leaf);
  }
  const head = signTreeHead(key, 4, Date.UTC(2026, 5, 1, 12, 1), frontierRoot(frontier));
  await db.query('INSERT INTO audit_tree_head (tree_size, root_hash, timestamp_ms, key_id, signature, frontier) VALUES (4, $1, $2, $3, $4, $5)', [
    Buffer.from(head.rootHash, 'base64'), head.timestampMs, key.keyId, Buffer.from(head.signature, 'base64'), frontier.hashes,
  ]);
  await appendWitness(witnessPath, [{ ...head, publicKey: publicRaw.toString('base64') }]);
  return ids;
}

test('migration 020 converts a per-entry log byte for byte: old heads and witness verify, ids stay, the queue carries over', async () => {
  const witnessPath = join(tempDir('haven-audit-upgrade-'), 'witness.jsonl');
  const ids = await oldLog(witnessPath);
  const before = (await testDb.db.query<{ entry_id: string; canonical: Buffer }>('SELECT entry_id::text, canonical FROM audit_entry ORDER BY entry_id')).rows;
  assert.ok((await migrate(testDb.db)).includes('020'));

  const converted = (await testDb.db.query<{ entry_id: string; canonical: Buffer; patient_ids: string[] }>('SELECT entry_id::text, canonical, patient_ids FROM audit_entry ORDER BY entry_id')).rows;
  assert.deepEqual(converted.map((r) => r.entry_id), ids, 'entry ids unchanged');
  converted.forEach((r, i) => assert.ok(r.canonical.equals(before[i]!.canonical), 'canonical bytes unchanged'));
  assert.deepEqual(converted[2]!.patient_ids, ['Patient/old2']);
  const seqs = await testDb.db.query<{ seq: string }>('SELECT seq::text FROM audit_log ORDER BY seq');
  assert.deepEqual(seqs.rows.map((r) => r.seq), ['0', '1', '2', '3']);

  const report = await verifyAuditLog(testDb.db, { witnessPath });
  assert.deepEqual(report.problems, []);
  assert.equal(report.entries, 4);
  assert.equal(report.pending, 1, 'the queued entry is still queued');

  // The sequencer continues the same tree: the queued old entry first, then new batches with larger ids.
  const sequencer = createSequencer({ db: testDb.db, clock: systemClock, logger: silentLogger, witnessPath, intervalMs: 50 });
  try {
    assert.equal(await sequencer.drain(), 1);
    const { insertEntries } = await import('../../src/audit/insert.js');
    await insertEntries(testDb.db, [1, 2, 3].map((i) => buildEntry(ctxFor(10 + i), 'new-node', new Date(), { action: 'read', outcome: 'success', resources: [] })));
    assert.equal(await sequencer.drain(), 3);
  } finally {
    await sequencer.stop();
  }
  const after = await verifyAuditLog(testDb.db, { witnessPath });
  assert.deepEqual(after.problems, []);
  assert.equal(after.entries, 8);
  const newest = await testDb.db.query<{ entry_id: string; batch_id: string }>('SELECT entry_id::text, batch_id::text FROM audit_entry ORDER BY entry_id DESC LIMIT 3');
  assert.equal(new Set(newest.rows.map((r) => r.batch_id)).size, 1, 'the three new entries share one batch');
  assert.ok(BigInt(newest.rows[2]!.entry_id) > BigInt(ids[4]!), 'new ids follow the old ones');
});
