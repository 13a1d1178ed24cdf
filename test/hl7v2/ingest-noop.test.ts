import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectMllp } from '../../src/hl7v2/mllp/index.js';
import { builtinConverter } from './convert-support.js';
import { msa, sample, startHl7Harness, variant, type Hl7Harness } from './mllp-support.js';

// A feed re-sends whole patients (A08, A31): a message with a new MSH-10 but the same content
// writes a new Provenance (and any message-scoped resources) and no version of what it did not change.

const A08 = sample('ADT-A08-01.hl7');

describe('HL7 v2: a resent message changes nothing it does not change', () => {
  let h: Hl7Harness;
  before(async () => {
    h = await startHl7Harness(builtinConverter());
  });
  after(async () => h.close());

  async function send(controlId: string, text: string): Promise<void> {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const ack = await c.send(variant(text, controlId, 'P-NOOP'));
    c.close();
    assert.equal(msa(ack).code, 'AA', ack);
  }

  /** Current version of every resource, `Type/id` → version. */
  async function current(): Promise<Map<string, number>> {
    const r = await h.testDb.db.query<{ k: string; v: string }>(`SELECT resource_type || '/' || id AS k, version_id AS v FROM resource WHERE NOT deleted`);
    return new Map(r.rows.map((x) => [x.k, Number(x.v)]));
  }

  async function versionRows(): Promise<number> {
    const r = await h.testDb.db.query<{ n: string }>('SELECT count(*) AS n FROM resource_version');
    return Number(r.rows[0]!.n);
  }

  it('the same A08 under another control id: no new version of any resource the first one wrote', async () => {
    await send('NOOP-1', A08);
    const first = await current();
    const rowsBefore = await versionRows();
    assert.ok(first.size > 3, `the message writes several resources (${first.size})`);

    await send('NOOP-2', A08);
    const second = await current();
    for (const [k, v] of first) assert.equal(second.get(k), v, `${k} kept its version`);
    const added = [...second].filter(([k]) => !first.has(k));
    assert.ok(added.every(([, v]) => v === 1), 'only new resources (the Provenance, message-scoped ones) were written');
    assert.ok(added.some(([k]) => k.startsWith('Provenance/')));
    assert.equal(await versionRows() - rowsBefore, added.length, 'one version row per new resource, none for the rest');

    // The second message's Provenance names the unchanged Patient, whose current version is still the first.
    const patient = [...first.keys()].find((k) => k.startsWith('Patient/'))!;
    const provenance = added.find(([k]) => k.startsWith('Provenance/'))![0];
    const res = await fetch(`${h.baseUrl}/fhir/${provenance}`, { headers: { authorization: `Bearer ${await h.token()}` } });
    const body = (await res.json()) as { target: { reference: string }[] };
    assert.ok(body.target.some((t) => t.reference === patient), 'the Provenance targets the unchanged Patient');

    // A real change still writes: the Patient's name.
    await send('NOOP-3', A08.replace(/^PID\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|([^|^]*)/m, 'PID|$1|$2|$3|$4|Changedname'));
    const third = await current();
    assert.equal(third.get(patient), first.get(patient)! + 1);
  });
});
