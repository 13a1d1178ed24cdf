import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHl7Converter } from '../../src/hl7v2/convert/index.js';
import { parseMessage } from '../../src/hl7v2/index.js';
import { connectMllp } from '../../src/hl7v2/mllp/index.js';
import { builtinConverter, hl7 } from './convert-support.js';
import { msa, startHl7Harness, type Hl7Harness } from './mllp-support.js';

// Out-of-order messages: a message older (MSH-7) than the newest one that updated a resource
// leaves that resource alone — a late A08 must not reopen a visit an A03 closed, nor bring back
// an address the patient has moved from. Newer and same-time messages apply as before.

interface Visit {
  mrn: string;
  controlId: string;
  /** MSH-7, e.g. `20261130101500-0500`. */
  sent: string;
  trigger: 'A01' | 'A03' | 'A08';
  street: string;
  room: string;
  discharged?: string;
  enhanced?: boolean;
}

function adt(v: Visit): string {
  const msh15 = v.enhanced ? 'NE' : '';
  const msh16 = v.enhanced ? 'AL' : '';
  const pv1 = ['PV1', '1', 'I', `${v.room}^A^HOSP`, ...Array<string>(15).fill(''), `V-${v.mrn}^^^HOSP^VN`];
  while (pv1.length < 46) pv1.push('');
  pv1[44] = '20261130100000-0500';
  pv1[45] = v.discharged ?? '';
  return hl7(
    `MSH|^~\\&|REG|HOSP|HAVEN|HAVEN|${v.sent}||ADT^${v.trigger}^ADT_A01|${v.controlId}|P|2.5.1|||${msh15}|${msh16}`,
    `EVN|${v.trigger}|${v.sent}`,
    `PID|1||${v.mrn}^^^HOSP^MR||DOE^JANE||19800215|F|||${v.street}^^BOSTON^MA^02115`,
    pv1.join('|'),
  );
}

interface Res {
  status?: string;
  period?: { end?: string };
  location?: { location: { display?: string } }[];
  address?: { line?: string[] }[];
  meta: { versionId: string };
}

describe('HL7 v2: a message older than the data it updates leaves that data alone', () => {
  let h: Hl7Harness;
  before(async () => {
    h = await startHl7Harness(builtinConverter());
  });
  after(async () => h.close());

  async function send(v: Visit): Promise<void> {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = await c.send(adt(v));
    c.close();
    assert.equal(msa(ack).code, 'AA', ack);
  }

  async function one(query: string): Promise<Res> {
    const res = await fetch(`${h.baseUrl}/fhir/${query}`, { headers: { authorization: `Bearer ${await h.token()}` } });
    const bundle = (await res.json()) as { entry?: { resource: Res }[] };
    assert.equal(bundle.entry?.length, 1, query);
    return bundle.entry[0]!.resource;
  }

  const encounterOf = (mrn: string) => one(`Encounter?identifier=V-${mrn}`);
  const patientOf = (mrn: string) => one(`Patient?identifier=${mrn}`);
  const stale = () => h.app.hl7.metrics.value('stale_updates', 'mllp');

  // Original mode goes through the shared (grouped) transaction; enhanced mode through the per-message path.
  for (const enhanced of [false, true]) {
    const mode = enhanced ? 'per-message path' : 'grouped path';
    const mrn = enhanced ? 'ORD-2' : 'ORD-1';

    it(`a late A08 neither reopens the discharged visit nor restores the old address (${mode})`, async () => {
      const base = { mrn, enhanced };
      await send({ ...base, controlId: `${mrn}-1`, sent: '20261130101500-0500', trigger: 'A01', street: '1 OLD ST', room: '4N^401' });
      await send({ ...base, controlId: `${mrn}-3`, sent: '20261130140000-0500', trigger: 'A03', street: '2 NEW ST', room: '4N^401', discharged: '20261130135500-0500' });
      const closed = await encounterOf(mrn);
      assert.equal(closed.status, 'finished');
      const moved = await patientOf(mrn);
      const before = stale();

      // Sent at noon, delivered after the discharge: the visit and the patient stay as the A03 left them.
      await send({ ...base, controlId: `${mrn}-2`, sent: '20261130120000-0500', trigger: 'A08', street: '1 OLD ST', room: '5S^501' });
      const visit = await encounterOf(mrn);
      assert.equal(visit.status, 'finished');
      assert.equal(visit.period?.end, '2026-11-30T13:55:00-05:00');
      assert.equal(visit.meta.versionId, closed.meta.versionId, 'no new version of the Encounter');
      const patient = await patientOf(mrn);
      assert.deepEqual(patient.address?.[0]?.line, ['2 NEW ST']);
      assert.equal(patient.meta.versionId, moved.meta.versionId, 'no new version of the Patient');
      assert.equal(stale() - before, 2, 'the Patient and the Encounter updates were left out and counted');
      // The message itself is processed, with its Provenance.
      const stored = await h.testDb.db.query<{ status: string }>(`SELECT status FROM hl7v2_message WHERE control_id = $1`, [`${mrn}-2`]);
      assert.equal(stored.rows[0]?.status, 'processed');

      // A newer message applies, and so does one sent at the same second as the newest.
      await send({ ...base, controlId: `${mrn}-4`, sent: '20261130150000-0500', trigger: 'A08', street: '3 LATER ST', room: '4N^401', discharged: '20261130135500-0500' });
      assert.deepEqual((await patientOf(mrn)).address?.[0]?.line, ['3 LATER ST']);
      await send({ ...base, controlId: `${mrn}-5`, sent: '20261130150000-0500', trigger: 'A08', street: '4 SAME SECOND ST', room: '4N^401', discharged: '20261130135500-0500' });
      assert.deepEqual((await patientOf(mrn)).address?.[0]?.line, ['4 SAME SECOND ST']);
      assert.equal(stale() - before, 2, 'nothing else was left out');
    });
  }

  it('a merge applies even when older than the records it merges (it is an explicit correction)', async () => {
    const reg = (id: string, mrn: string) =>
      hl7(`MSH|^~\\&|REG|HOSP|HAVEN|HAVEN|20261130120000-0500||ADT^A04^ADT_A01|${id}|P|2.5.1`, 'EVN|A04', `PID|1||${mrn}^^^HOSP^MR||DOE^JANE||19800215|F`);
    for (const [id, mrn] of [['MG-1', 'ORD-RET'], ['MG-2', 'ORD-SURV']] as const) {
      const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
      assert.equal(msa(await c.send(reg(id, mrn))).code, 'AA');
      c.close();
    }
    const merge = hl7(
      'MSH|^~\\&|REG|HOSP|HAVEN|HAVEN|20261130090000-0500||ADT^A40^ADT_A39|MG-3|P|2.5.1',
      'EVN|A40|20261130090000-0500',
      'PID|1||ORD-SURV^^^HOSP^MR||DOE^JANE||19800215|F',
      'MRG|ORD-RET^^^HOSP^MR',
    );
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = msa(await c.send(merge));
    c.close();
    assert.equal(ack.code, 'AA', ack.text);
    const retired = (await patientOf('ORD-RET')) as Res & { active?: boolean; link?: unknown[] };
    assert.equal(retired.active, false);
    assert.ok(retired.link?.length, 'linked to the survivor');
  });

  it('the clocks hold no identifier in clear', async () => {
    const rows = await h.testDb.db.query<{ entry_key: string }>('SELECT entry_key FROM hl7v2_entry_clock');
    assert.ok(rows.rows.length >= 4, `a clock per updated resource (${rows.rows.length})`);
    for (const r of rows.rows) assert.doesNotMatch(r.entry_key, /ORD-|identifier|Patient|Encounter/);
  });
});

describe('HL7 v2: the order of updates by MSH-7, per sender settings', () => {
  const message = parseMessage(adt({ mrn: 'S-1', controlId: 'S-1', sent: '20261130120000', trigger: 'A08', street: '1 ST', room: '1^1' }).replace('20261130120000||', '20261130120000-0500||'));

  it('MSH-7 gives the instant updates are ordered by', () => {
    const r = builtinConverter().convert({ message, messageId: 'm', sender: 'REG^HOSP', receivedAt: new Date() });
    assert.equal(r.sentAt, '2026-11-30T12:00:00-05:00');
  });

  it('a time without a zone orders nothing unless the settings give a default zone', () => {
    const zoneless = parseMessage(adt({ mrn: 'S-1', controlId: 'S-2', sent: '20261130120000', trigger: 'A08', street: '1 ST', room: '1^1' }));
    const at = (c: ReturnType<typeof createHl7Converter>) => c.convert({ message: zoneless, messageId: 'm', sender: 'REG^HOSP', receivedAt: new Date() }).sentAt;
    assert.equal(at(builtinConverter()), undefined);
    const dir = mkdtempSync(join(tmpdir(), 'haven-hl7-order-'));
    try {
      writeFileSync(join(dir, 'settings.json'), JSON.stringify({ defaultTimezone: '-05:00' }));
      assert.equal(at(createHl7Converter({ templatesDir: dir })), '2026-11-30T12:00:00-05:00');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`staleUpdates: apply` in a sender settings file turns the check off', () => {
    const dir = mkdtempSync(join(tmpdir(), 'haven-hl7-order-'));
    try {
      const senderDir = join(dir, 'senders', 'REG_HOSP');
      mkdirSync(senderDir, { recursive: true });
      writeFileSync(join(senderDir, 'settings.json'), JSON.stringify({ staleUpdates: 'apply' }));
      const converter = createHl7Converter({ templatesDir: dir });
      assert.equal(converter.convert({ message, messageId: 'm', sender: 'REG^HOSP', receivedAt: new Date() }).sentAt, undefined);
      assert.equal(converter.convert({ message, messageId: 'm', sender: 'OTHER^HOSP', receivedAt: new Date() }).sentAt, '2026-11-30T12:00:00-05:00');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
