import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createHl7Converter } from '../../src/hl7v2/convert/index.js';
import { connectMllp } from '../../src/hl7v2/mllp/index.js';
import { msa, sample, startHl7Harness, variant, type Hl7Harness } from './mllp-support.js';

const MSH = (type: string, id: string) => `MSH|^~\\&|Ntierprise|Ntierprise Clinic|Healthmatics EHR|Healthmatics Clinic|20190423150137||${type}|${id}|P|2.8`;
const PID = (mrn: string, family: string) => `PID|1||${mrn}^^^BCBS^MR||${family}^Test||20180205|F`;

describe('A40 merge moves the retired patient\'s references (real templates)', () => {
  let h: Hl7Harness;
  let token: string;
  before(async () => {
    h = await startHl7Harness(createHl7Converter());
    token = await h.token();
  });
  after(async () => h.close());

  async function fhir(path: string): Promise<any> {
    const res = await fetch(`${h.baseUrl}/fhir${path}`, { headers: { authorization: `Bearer ${token}` } });
    return res.json();
  }
  const patientId = async (mrn: string) => ((await fhir(`/Patient?identifier=${mrn}`)).entry ?? [])[0]?.resource.id as string | undefined;
  const observationsOf = async (id: string) => ((await fhir(`/Observation?subject=Patient/${id}`)).entry ?? []).length as number;

  it('points the retired record\'s Observations at the survivor, in the merge message\'s transaction', async () => {
    const c = await connectMllp({ host: '127.0.0.1', port: h.mllpPort });
    const send = async (segments: string[]) => msa(await c.send(segments.join('\r')));
    assert.equal((await send([MSH('ADT^A04^ADT_A04', 'MG-1'), 'EVN|A04|20190423150137', PID('56789', 'Old')])).code, 'AA');
    assert.equal((await send([MSH('ADT^A04^ADT_A04', 'MG-2'), 'EVN|A04|20190423150137', PID('12345', 'Test')])).code, 'AA');
    const oru = await send([
      MSH('ORU^R01^ORU_R01', 'MG-3'),
      PID('56789', 'Old'),
      'OBR|1|PO-MG-3|FO-MG-3|8867-4^Heart rate^LN|||20190423',
      'OBX|1|NM|8867-4^Heart rate^LN||72|/min^/min^UCUM|||||F',
    ]);
    assert.equal(oru.code, 'AA', oru.text);
    const retired = await patientId('56789');
    const survivor = await patientId('12345');
    assert.ok(retired && survivor && retired !== survivor);
    const before = await observationsOf(retired);
    assert.ok(before >= 1, 'the ORU produced an Observation about the retired patient');
    // The sample asks for no acknowledgments at all (MSH-15/16 NE): original mode here, to see the AA.
    const merge = msa(await c.send(variant(sample('ADT-A40-01.hl7'), '8919-40', '12345')));
    c.close();
    assert.equal(merge.code, 'AA', merge.text);
    assert.equal(await observationsOf(retired), 0);
    assert.equal(await observationsOf(survivor), before);
    const old = await fhir(`/Patient/${retired}`);
    assert.equal(old.active, false);
  });
});
