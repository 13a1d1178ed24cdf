import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { connectMllp } from '../../src/hl7v2/mllp/index.js';
import { builtinConverter, hl7 } from './convert-support.js';
import { msa, startHl7Harness, type Hl7Harness } from './mllp-support.js';

// Batches (FHS/BHS … BTS/FTS) over MLLP and HTTP: each message ingested as a single one would be,
// a patient's messages in batch order, one batch of acknowledgments back; a wrong envelope refused whole.

const SENT = '20261130120000-0500'; // one time for all: ordering must come from the batch, not from MSH-7

function adt(controlId: string, mrn: string, street: string, trigger = 'A08'): string {
  return hl7(
    `MSH|^~\\&|REG|HOSP|HAVEN|HAVEN|${SENT}||ADT^${trigger}^ADT_A01|${controlId}|P|2.5.1`,
    `EVN|${trigger}|${SENT}`,
    `PID|1||${mrn}^^^HOSP^MR||DOE^JANE||19800215|F|||${street}^^BOSTON^MA^02115`,
  );
}

function batchOf(messages: string[], count = messages.length): string {
  return [`FHS|^~\\&|REG|HOSP|HAVEN|HAVEN|${SENT}||||F-1`, `BHS|^~\\&|REG|HOSP|HAVEN|HAVEN|${SENT}||||B-1`, ...messages, `BTS|${count}`, 'FTS|1'].join('\r');
}

/** The segments of an acknowledgment batch, and each ACK's MSA. */
function readAck(ack: string): { segments: string[]; msas: { code: string; controlId: string }[] } {
  const segments = ack.split('\r');
  return { segments, msas: segments.filter((s) => s.startsWith('MSA')).map((s) => ({ code: s.split('|')[1]!, controlId: s.split('|')[2]! })) };
}

describe('HL7 v2 batches', () => {
  let h: Hl7Harness;
  before(async () => {
    h = await startHl7Harness(builtinConverter());
  });
  after(async () => h.close());

  async function street(mrn: string): Promise<string | undefined> {
    const res = await fetch(`${h.baseUrl}/fhir/Patient?identifier=${mrn}`, { headers: { authorization: `Bearer ${await h.token()}` } });
    const body = (await res.json()) as { entry?: { resource: { address?: { line?: string[] }[] } }[] };
    return body.entry?.[0]?.resource.address?.[0]?.line?.[0];
  }

  const stored = async () => Number((await h.testDb.db.query<{ n: string }>('SELECT count(*) AS n FROM hl7v2_message')).rows[0]!.n);

  it('over MLLP: every message acknowledged in one batch, a malformed one AR on its own, each patient in batch order', async () => {
    const messages: string[] = [];
    // 10 patients, 4 updates each, interleaved: the last street each one is sent must be the one kept.
    for (let round = 1; round <= 4; round++) {
      for (let p = 1; p <= 10; p++) messages.push(adt(`BM-${p}-${round}`, `BAT-${p}`, `${round} ROUND ST`, round === 1 ? 'A04' : 'A08'));
    }
    messages.splice(17, 0, 'MSH|^~\\&|REG|HOSP|HAVEN|HAVEN||||BM-BAD|P|2.5.1'); // MSH-9 empty: malformed
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = await c.send(batchOf(messages));
    c.close();
    const { segments, msas } = readAck(ack);
    assert.match(segments[0]!, /^FHS\|\^~\\&\|HAVEN\|HAVEN\|REG\|HOSP\|/, 'the file header answers with sender and receiver swapped');
    assert.equal(segments[0]!.split('|')[11], 'F-1', 'FHS-12 names the file answered');
    assert.equal(segments[1]!.split('|')[11], 'B-1', 'BHS-12 names the batch answered');
    assert.equal(segments.at(-2), `BTS|${messages.length}`);
    assert.equal(segments.at(-1), 'FTS|1');
    assert.equal(msas.length, messages.length, 'one ACK per message');
    assert.deepEqual(msas.map((m) => m.controlId), messages.map((m) => m.split('|')[9]), 'in batch order');
    assert.deepEqual(msas.filter((m) => m.code !== 'AA'), [{ code: 'AR', controlId: 'BM-BAD' }]);
    for (let p = 1; p <= 10; p++) assert.equal(await street(`BAT-${p}`), '4 ROUND ST', `patient ${p}`);

    // The same batch again: exactly once — every message answered with its stored ACK, nothing new.
    const before = await stored();
    const c2 = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const again = readAck(await c2.send(batchOf(messages)));
    c2.close();
    assert.deepEqual(again.msas.map((m) => m.code), msas.map((m) => m.code));
    assert.equal(await stored(), before + 1, 'only the malformed message is stored again (rejected ones claim no control id)');
  });

  it('over HTTP: the results per message; a wrong envelope is refused whole and stores nothing', async () => {
    const token = await h.token();
    const post = (body: string) => fetch(`${h.baseUrl}/hl7v2/messages`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'x-application/hl7-v2+er7' }, body });
    const ok = await post(batchOf([adt('BH-1', 'BAT-H1', '1 HTTP ST', 'A04'), adt('BH-2', 'BAT-H2', '2 HTTP ST', 'A04')]));
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { batch: boolean; ackCodes: Record<string, number>; messages: { status: string }[]; ack: string };
    assert.equal(body.batch, true);
    assert.deepEqual(body.ackCodes, { AA: 2 });
    assert.deepEqual(body.messages.map((m) => m.status), ['processed', 'processed']);
    assert.equal(readAck(body.ack).msas.length, 2);

    const before = await stored();
    const wrongCount = await post(batchOf([adt('BH-3', 'BAT-H3', '3 HTTP ST', 'A04')], 2));
    assert.equal(wrongCount.status, 400);
    const outcome = (await wrongCount.json()) as { issue: { details: { coding: { code: string }[] }; diagnostics: string }[] };
    assert.equal(outcome.issue[0]!.details.coding[0]!.code, 'HL7_BATCH_MALFORMED');
    assert.match(outcome.issue[0]!.diagnostics, /BTS-1/);
    assert.equal(await stored(), before, 'nothing of a refused batch is stored');
    assert.equal(await street('BAT-H3'), undefined);
  });

  it('over MLLP a wrong envelope is answered AR naming the batch', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = await c.send(batchOf([adt('BM-X', 'BAT-X', '1 X ST', 'A04')], 5));
    c.close();
    assert.equal(msa(ack).code, 'AR');
    assert.equal(msa(ack).controlId, 'B-1');
    assert.match(msa(ack).text, /BTS-1/);
  });

  it('haven hl7 send FILE sends a batch file and exits 0 only when every message was accepted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-batch-cli-'));
    try {
      const send = async (name: string, text: string): Promise<{ code: number; stdout: string; stderr: string }> => {
        writeFileSync(join(dir, name), text);
        const env = { ...process.env, HAVEN_DATA_DIR: h.dataDir };
        return promisify(execFile)(process.execPath, ['bin/haven.js', 'hl7', 'send', join(dir, name), '--url', h.baseUrl], { env }).then(
          (r) => ({ code: 0, ...r }),
          (e: { code: number; stdout: string; stderr: string }) => e,
        );
      };
      const good = await send('good.hl7', batchOf([adt('BC-1', 'BAT-C1', '1 CLI ST', 'A04'), adt('BC-2', 'BAT-C2', '2 CLI ST', 'A04')]));
      assert.equal(good.code, 0, good.stderr);
      assert.match(good.stderr, /batch of 2 message\(s\): \{"AA":2\}/);
      assert.match(good.stdout, /^BTS\|2$/m);
      // The first message is accepted, the second malformed: not a success.
      const mixed = await send('mixed.hl7', batchOf([adt('BC-3', 'BAT-C3', '3 CLI ST', 'A04'), 'MSH|^~\\&|REG|HOSP|HAVEN|HAVEN||||BC-4|P|2.5.1']));
      assert.equal(mixed.code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
