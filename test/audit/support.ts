import { join } from 'node:path';
import { after } from 'node:test';
import { createAuditRecorder } from '../../src/audit/recorder.js';
import { createSequencer } from '../../src/audit/sequencer.js';
import type { AuditedContext } from '../../src/audit/entry.js';
import { asTenantId, silentLogger, systemClock } from '../../src/kernel/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { tempDir } from '../support/temp-dir.js';

export function ctxFor(i: number): AuditedContext {
  return {
    tenant: asTenantId('default'),
    requestId: `req-${i}`,
    sourceIp: '127.0.0.1',
    principal: { subject: `client-${i % 3}`, clientId: `client-${i % 3}`, kind: 'client', scopes: [] },
  };
}

export interface AuditFixture {
  testDb: TestDb;
  witnessPath: string;
  recorder: ReturnType<typeof createAuditRecorder>;
  sequencer: ReturnType<typeof createSequencer>;
  /** Records `n` read entries (each its own request) and sequences them as one round. */
  addRound(n: number): Promise<void>;
}

export async function auditFixture(): Promise<AuditFixture> {
  const testDb = await createTestDb();
  const witnessPath = join(tempDir('haven-audit-'), 'audit', 'witness.jsonl');
  const recorder = createAuditRecorder({ db: testDb.db, clock: systemClock, logger: silentLogger, node: 'test-node', timeoutMs: 2000 });
  const sequencer = createSequencer({ db: testDb.db, clock: systemClock, logger: silentLogger, witnessPath, intervalMs: 50 });
  let counter = 0;
  return {
    testDb,
    witnessPath,
    recorder,
    sequencer,
    async addRound(n) {
      // One after another: each entry is its own batch, so a tamper test can name one entry by its seq.
      for (let k = 0; k < n; k++) {
        const i = counter++;
        await recorder.record(ctxFor(i), [{ action: 'read', outcome: 'success', resources: [{ type: 'Patient', id: `p${i}`, version: 1, patient: `Patient/p${i}` }] }]);
      }
      await sequencer.drain();
    },
  };
}

const AUDIT_TABLES = ['audit_batch', 'audit_batch_log', 'audit_tree_head', 'audit_signing_key', 'audit_signing_key_wrap'];

/** A superuser session on the test database, to bypass the append-only trigger like an attacker with DBA rights. */
export async function asAttacker(testDb: TestDb, sql: string[]): Promise<void> {
  await testDb.db.transaction(async (tx) => {
    for (const table of AUDIT_TABLES) await tx.query(`ALTER TABLE ${table} DISABLE TRIGGER USER`);
    for (const s of sql) await tx.query(s);
    for (const table of AUDIT_TABLES) await tx.query(`ALTER TABLE ${table} ENABLE TRIGGER USER`);
  });
}

/**
 * A fresh log per call: `rounds` rounds of `perRound` entries, a signed head
 * after each; every log is stopped and dropped after the calling file's tests.
 */
export function logFactory(rounds: number, perRound: number): () => Promise<AuditFixture> {
  const fixtures: AuditFixture[] = [];
  after(async () => {
    for (const f of fixtures) {
      await f.sequencer.stop();
      await f.testDb.drop();
    }
  });
  return async () => {
    const f = await auditFixture();
    fixtures.push(f);
    for (let r = 0; r < rounds; r++) await f.addRound(perRound);
    return f;
  };
}

/** SQL for the batch holding the entry at a sequence number (for tampering statements). */
export const batchAt = (seq: number) => `(SELECT batch_id FROM audit_batch_log WHERE first_seq <= ${seq} ORDER BY first_seq DESC LIMIT 1)`;

/** SQL that rewrites the bytes of the entry at `seq` with `change(bytesExpression)`. */
export function changeEntryAt(seq: number, change: (bytes: string) => string): string {
  const ordinal = `(${seq} - (SELECT first_seq FROM audit_batch_log WHERE first_seq <= ${seq} ORDER BY first_seq DESC LIMIT 1) + 1)`;
  return `UPDATE audit_batch SET entries[${ordinal}] = ${change(`entries[${ordinal}]`)} WHERE batch_id = ${batchAt(seq)}`;
}
