import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { loadSamples } from './samples.js';
import { builtinConverter, convertText, hl7, type Res } from './convert-support.js';

// The converter's Bundles against Haven's real transaction processing (PostgreSQL, HTTP):
// conditional Patient updates, urn:uuid references, deterministic ids, Provenance targets.

const converter = builtinConverter();
let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => server?.close());

async function post(bundle: unknown): Promise<Res> {
  const res = await server.fhir('', { method: 'POST', json: bundle });
  assert.equal(res.status, 200, JSON.stringify(res.body).slice(0, 600));
  return res.body as Res;
}

/** `[base]/Type/id/_history/n` → `Type/id`. */
function relative(location: unknown): string {
  return String(location).replace(/^.*\/fhir\//, '').replace(/\/_history\/.*$/, '');
}

async function count(type: string, query = ''): Promise<number> {
  const res = await server.fhir(`/${type}?_summary=count${query}`);
  assert.equal(res.status, 200);
  return (res.body as Res).total as number;
}

const MSH = (type: string): string => `MSH|^~\\&|EPIC|HOSP|HAVEN|HAVEN|20240101120000+0100||${type}|C1|P|2.5.1`;
const PID = 'PID|1||777001^^^HOSP&2.16.840.1.113883.19.5&ISO^MR||ROE^RICHARD||19700101|M';
const PV1 = (end = ''): string => `PV1|1|I|WARD1||||||||||||||||V777^^^HOSP&2.16.840.1.113883.19.5&ISO^VN|||||||||||||||||||||||||20240101113000${end}`;

describe('hl7v2 convert: Bundles applied by Haven', () => {
  it('every sample Bundle commits as a transaction', async () => {
    for (const sample of loadSamples()) {
      const res = await server.fhir('', { method: 'POST', json: convertText(converter, sample.bytes, `m-${sample.name}`).bundle });
      assert.equal(res.status, 200, `${sample.name}: ${JSON.stringify(res.body).slice(0, 400)}`);
    }
  });

  it('the same message twice gives the same resources; a discharge updates the visit', async () => {
    const admit = hl7(MSH('ADT^A01^ADT_A01'), PID, PV1());
    const first = await post(convertText(converter, admit, 'adt-1').bundle);
    const again = await post(convertText(converter, admit, 'adt-1').bundle);
    const locations = (b: Res): string[] => b.entry.map((e: Res) => relative(e.response.location));
    assert.deepEqual(locations(again), locations(first));
    assert.equal(await count('Patient', '&identifier=urn:oid:2.16.840.1.113883.19.5|777001'), 1);
    await post(convertText(converter, hl7(MSH('ADT^A03^ADT_A03'), PID, PV1('|20240103090000')), 'adt-2').bundle);
    const encounterId = locations(first).find((l) => l.startsWith('Encounter/'))!;
    const encounter = (await server.fhir(`/${encounterId}`)).body as Res;
    assert.equal(encounter.status, 'finished');
    const patientId = locations(first).find((l) => l.startsWith('Patient/'))!;
    assert.equal(encounter.subject.reference, patientId);
    const provenance = (await server.fhir(`/Provenance?target=${patientId}`)).body as Res;
    assert.equal(provenance.total ?? provenance.entry.length, 2);
  });

  it('results of a later ORU land on the same patient and report', async () => {
    const oru = hl7(
      MSH('ORU^R01^ORU_R01'), PID, PV1(),
      'OBR|1|ORD9^EPIC|FIL9^LAB|2345-7^Glucose^LN|||20240101080000|||||||||||||||20240101110000|||F',
      'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|||||F',
    );
    const posted = await post(convertText(converter, oru, 'oru-1').bundle);
    const obsId = posted.entry.map((e: Res) => relative(e.response.location)).find((l: string) => l.startsWith('Observation/'))!;
    const obs = (await server.fhir(`/${obsId}`)).body as Res;
    const patients = (await server.fhir('/Patient?identifier=urn:oid:2.16.840.1.113883.19.5|777001')).body as Res;
    assert.equal(obs.subject.reference, `Patient/${patients.entry[0].resource.id}`);
    await post(convertText(converter, oru.replace('|95|', '|97|'), 'oru-2').bundle);
    assert.equal(((await server.fhir(`/${obsId}`)).body as Res).valueQuantity.value, 97);
    assert.equal(await count('Observation', '&code=2345-7'), 1);
    // The ORU's PV1 (no discharge time) did not overwrite the visit the ADT^A03 finished.
    const visits = (await server.fhir('/Encounter?identifier=urn:oid:2.16.840.1.113883.19.5|V777')).body as Res;
    assert.deepEqual(visits.entry.map((e: Res) => e.resource.status), ['finished']);
    assert.equal(obs.encounter.reference, `Encounter/${visits.entry[0].resource.id}`);
  });
});
