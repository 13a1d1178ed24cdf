import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectMllp, type MllpClient } from '../../src/hl7v2/mllp/index.js';
import { createTestDb, type TestDb } from '../support/db.js';
import { spawnHaven, type HavenProcess } from '../support/process.js';
import { freePort } from '../support/server.js';
import { msa, sample, variant } from './mllp-support.js';

const TOTAL = Number(process.env.HL7_CRASH_MESSAGES ?? 10_000);
const CONNECTIONS = 6;
/** `real`: `haven serve` with the declarative templates; `test`: the test's converter (crash-server.ts). */
const CONVERTER = process.env.HL7_CRASH_CONVERTER === 'test' ? 'test' : 'real';
const PATIENTS = Math.ceil(TOTAL / 4);
const SAMPLES = ['ADT-A01-01.hl7', 'ADT-A04-01.hl7', 'ADT-A08-01.hl7', 'ADT-A31-01.hl7', 'ORU-R01-01.hl7', 'ADT-A28-01.hl7'].map(sample);
/** Kill the server (SIGKILL) when this many messages have been acknowledged. */
const KILL_AT = [Math.floor(TOTAL * 0.3), Math.floor(TOTAL * 0.65)];

function message(i: number): string {
  return variant(SAMPLES[i % SAMPLES.length]!, `CRASH-${i}`, `PX-${i % PATIENTS}`);
}

interface Stats {
  acked: Set<number>;
  resent: number;
  transientNaks: number;
  others: string[];
}

/** One sender: its share of the messages, in order; anything not answered AA is sent again on a new connection. */
async function sender(port: number, share: number[], stats: Stats, onAck: () => Promise<void>, diagnose: () => string): Promise<void> {
  let client: MllpClient | undefined;
  for (const i of share) {
    let last = 'no answer';
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) stats.resent += 1;
      try {
        client ??= await connectMllp({ host: '127.0.0.1', port });
        const ack = msa(await client.send(message(i), 15_000));
        if (ack.code === 'AA' && ack.controlId === `CRASH-${i}`) break;
        last = `${ack.code}: ${ack.text}`;
        if (ack.code === 'AR') stats.transientNaks += 1;
        else stats.others.push(`${i}:${ack.code}:${ack.text}`);
      } catch (err) {
        last = err instanceof Error ? err.message : String(err);
        client?.close();
        client = undefined;
      }
      if (attempt > 2000) throw new Error(`message ${i} never acknowledged; last answer: ${last}; ${diagnose()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    stats.acked.add(i);
    await onAck();
  }
  client?.close();
}

describe('HL7 v2 over MLLP survives SIGKILL: exactly once for every message', () => {
  let testDb: TestDb;
  let dataDir: string;
  let env: Record<string, string>;
  let server: HavenProcess;
  const start = () => spawnHaven(env, 60_000, CONVERTER === 'test' ? ['dist/test/hl7v2/crash-server.js'] : ['bin/haven.js', 'serve']);

  before(async () => {
    testDb = await createTestDb();
    dataDir = mkdtempSync(join(tmpdir(), 'haven-crash-'));
    env = {
      DATABASE_URL: testDb.url,
      HAVEN_DATA_DIR: dataDir,
      HAVEN_PORT: String(await freePort()),
      HAVEN_MLLP_PORT: String(await freePort()),
      HAVEN_LOG_LEVEL: 'warn',
      HAVEN_DB_POOL_SIZE: '12',
    };
    server = await start();
  });
  after(async () => {
    server.proc.kill('SIGKILL');
    await server.exited;
    await testDb.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it(`${TOTAL} mixed (${CONVERTER} converter) ADT/ORU messages over ${CONNECTIONS} connections, server killed twice`, { timeout: 1_200_000 }, async () => {
    const started = Date.now();
    const stats: Stats = { acked: new Set(), resent: 0, transientNaks: 0, others: [] };
    const kills: number[] = [];
    let restarting: Promise<void> | undefined;
    let restartError: unknown;
    // When a message is never acknowledged, say whether the server died by itself and what it logged last.
    const diagnose = () =>
      `server exit code ${String(server.proc.exitCode)}, signal ${String(server.proc.signalCode)}` +
      (restartError ? `, restart failed: ${String(restartError)}` : '') +
      `; server output tail: ${server.output().slice(-1500)}`;
    const onAck = async () => {
      const next = KILL_AT[kills.length];
      if (next !== undefined && stats.acked.size >= next && !restarting) {
        kills.push(stats.acked.size);
        restarting = (async () => {
          server.proc.kill('SIGKILL');
          await server.exited;
          server = await start();
          restarting = undefined;
        })().catch((err: unknown) => {
          restartError = err;
        });
      }
    };
    const shares = Array.from({ length: CONNECTIONS }, (_, c) => Array.from({ length: TOTAL }, (_, i) => i).filter((i) => i % CONNECTIONS === c));
    await Promise.all(shares.map((share) => sender(Number(env.HAVEN_MLLP_PORT), share, stats, onAck, diagnose)));
    if (restarting) await restarting;
    const seconds = (Date.now() - started) / 1000;
    console.log(`crash test: ${TOTAL} messages in ${seconds.toFixed(1)} s (${Math.round(TOTAL / seconds)}/s), kills after ${kills.join(' and ')} ACKs, ${stats.resent} re-sent, ${stats.transientNaks} transient AR`);

    assert.equal(kills.length, 2, 'the server was killed twice');
    assert.deepEqual(stats.others, [], 'no AE or unexpected answers');
    assert.equal(stats.acked.size, TOTAL);
    const q = async (sql: string) => (await testDb.db.query<Record<string, string>>(sql)).rows;
    const byStatus = await q('SELECT status, count(*)::text AS n FROM hl7v2_message GROUP BY status');
    assert.deepEqual(byStatus, [{ status: 'processed', n: String(TOTAL) }], 'every message stored once and processed');
    const perControlId = await q("SELECT count(DISTINCT control_id)::text AS n FROM hl7v2_message WHERE control_id LIKE 'CRASH-%'");
    assert.equal(perControlId[0]!['n'], String(TOTAL));
    // One Provenance per message (its id derives from the message id in the real templates), written
    // once: as many as messages, none with a second version. Twice-applied messages would show here.
    const count = async (type: string) => (await q(`SELECT count(*)::text AS n FROM resource WHERE resource_type = '${type}' AND NOT deleted`))[0]!['n'];
    assert.equal(await count('Provenance'), String(TOTAL));
    assert.deepEqual(await q("SELECT max(version_id)::text AS v FROM resource WHERE resource_type = 'Provenance'"), [{ v: '1' }]);
    if (CONVERTER === 'test') {
      assert.equal(await count('Patient'), String(PATIENTS));
      // Every Patient has one version per message about it (a conditional update each time, none lost or doubled).
      assert.equal((await q("SELECT sum(version_id)::text AS n FROM resource WHERE resource_type = 'Patient'"))[0]!['n'], String(TOTAL));
    } else {
      assert.ok(Number(await count('Patient')) >= PATIENTS, 'every patient id became a Patient');
    }
  });
});
