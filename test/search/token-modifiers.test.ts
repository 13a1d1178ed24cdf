import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openConformance } from './conformance-fixture.js';
import type { Conformance } from './conformance-fixture.js';

/**
 * Conformance: token modifiers (:of-type, :in, :not-in, :not, :text), string
 * :exact/:contains, uri :above/:below, the meta parameters (_tag, _profile,
 * _security, _source), :missing, and date edge cases (precision boundaries,
 * time zones, periods straddling the searched range). Expected ids come from
 * the HL7 example files (jq) and conformance-data.ts.
 */
let c: Conformance;
before(async () => {
  c = await openConformance();
});
after(async () => {
  await c?.close();
});

const v20203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

test('token :of-type matches identifier type and value together', async () => {
  assert.deepEqual(await c.ids('Patient', `identifier:of-type=${v20203}|MR|M1`), ['cf-p1']);
  assert.deepEqual(await c.ids('Patient', `identifier:of-type=${v20203}|DL|M1`), ['cf-p2']);
  // HL7 example and xcda: MR 12345.
  assert.deepEqual(await c.ids('Patient', `identifier:of-type=${v20203}|MR|12345`), ['example', 'xcda']);
  assert.deepEqual(await c.ids('Patient', `identifier:of-type=${v20203}|DL|12345`), []);
  // Plain identifier search still sees both M1 identifiers.
  assert.deepEqual(await c.ids('Patient', 'identifier=M1'), ['cf-p1', 'cf-p2']);
  await assert.rejects(c.ids('Patient', 'identifier:of-type=MR|M1'));
});

test('token :in / :not-in against ValueSets stored on the server', async () => {
  const glucoseAndLocal = 'http://example.org/fhir/ValueSet/glucose-and-local';
  assert.deepEqual(await c.ids('Observation', `code:in=${glucoseAndLocal}`), ['cf-o3', 'cf-o4', 'cf-o5', 'cf-o6', 'cf-o7', 'cf-o8', 'cf-o9']);
  assert.deepEqual(await c.ids('Observation', `code:not-in=${glucoseAndLocal}&subject=Patient/cf-p1`), ['cf-o1']);
  // expansion.contains, nested: 85354-9 and 8480-6 (HL7: the three blood-pressure examples).
  assert.deepEqual(await c.ids('Observation', 'code:in=http://example.org/fhir/ValueSet/bp-expanded'), [
    'blood-pressure', 'blood-pressure-cancel', 'blood-pressure-dar', 'cf-o1', 'cf-o2',
  ]);
  // HL7's observation-category includes its whole code system.
  assert.deepEqual(await c.ids('Observation', 'category:in=http://hl7.org/fhir/ValueSet/observation-category'), [
    '10minute-apgar-score', '1minute-apgar-score', '20minute-apgar-score', '2minute-apgar-score', '5minute-apgar-score',
    'abdo-tender', 'alcohol-type', 'bgpanel', 'blood-pressure', 'blood-pressure-cancel', 'blood-pressure-dar', 'bloodgroup',
    'bmi', 'bmi-using-related', 'body-height', 'body-length', 'body-temperature', 'clinical-gender', 'date-lastmp', 'ekg',
    'example', 'f202', 'head-circumference', 'heart-rate', 'herd1', 'map-sitting', 'mbp', 'respiratory-rate', 'rhstatus',
    'satO2', 'secondsmoke', 'trachcare', 'vitals-panel',
  ]);
  assert.deepEqual(await c.ids('Observation', 'code:in=http://example.org/fhir/ValueSet/unknown'), []);
});

test('token :below / :above in a CodeSystem hierarchy stored on the server', async () => {
  // cf-cs1: chem > (glucose > glucose-fasting, lipids); haem. cf-o10 chem, cf-o11 glucose-fasting, cf-o12 lipids, cf-o13 haem.
  const labs = 'http://example.org/fhir/CodeSystem/labs';
  assert.deepEqual(await c.ids('Observation', `code:below=${labs}|chem`), ['cf-o10', 'cf-o11', 'cf-o12']);
  assert.deepEqual(await c.ids('Observation', `code:below=${labs}|glucose`), ['cf-o11']);
  assert.deepEqual(await c.ids('Observation', `code:above=${labs}|glucose-fasting`), ['cf-o10', 'cf-o11']);
  assert.deepEqual(await c.ids('Observation', `code:above=${labs}|haem`), ['cf-o13']);
  assert.deepEqual(await c.ids('Observation', `code:below=${labs}|unknown`), []);
  // A system without a stored CodeSystem: only the code itself.
  assert.deepEqual(await c.ids('Observation', 'code:below=http://loinc.org|85354-9'), ['blood-pressure', 'blood-pressure-cancel', 'blood-pressure-dar', 'cf-o1', 'cf-o2']);
});

test('token :not, :text and system|code forms', async () => {
  assert.deepEqual(await c.ids('Observation', 'status:not=final&subject=Patient/cf-p1'), ['cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'code:text=glucose&subject=Patient/cf-p1'), ['cf-o3', 'cf-o6']);
  assert.deepEqual(await c.ids('Observation', 'code:text=LOCAL&subject=Patient/cf-p1'), ['cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'code=urn:local|&subject=Patient/cf-p1'), ['cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'code=|x1'), []);
});

test('string default, :exact and :contains (case- and accent-insensitive except :exact)', async () => {
  assert.deepEqual(await c.ids('Patient', 'name=ODEGAARD'), ['cf-p1', 'cf-p2']);
  assert.deepEqual(await c.ids('Patient', 'name:exact=Odegaard'), ['cf-p2']);
  assert.deepEqual(await c.ids('Patient', 'name:exact=Ödegaard'), ['cf-p1']);
  assert.deepEqual(await c.ids('Patient', 'name:exact=odegaard'), []);
  assert.deepEqual(await c.ids('Patient', 'family:contains=ÖDE'), ['cf-p1', 'cf-p2']);
  assert.deepEqual(await c.ids('Patient', 'given=zoe'), ['cf-p3']);
  assert.deepEqual(await c.ids('Patient', 'name:contains=th-jo'), ['cf-p3']);
});

test('meta parameters: _tag, _profile, _security, _source', async () => {
  assert.deepEqual(await c.ids('Patient', '_tag=urn:tags|vip'), ['cf-p1']);
  assert.deepEqual(await c.ids('Patient', '_tag=urn:tags|'), ['cf-p1', 'cf-p2']);
  assert.deepEqual(await c.ids('Patient', '_tag:not=urn:tags|vip&_source=urn:source:emr2'), ['cf-p2']);
  assert.deepEqual(await c.ids('Patient', '_profile=http://example.org/fhir/StructureDefinition/vip-patient'), ['cf-p1']);
  assert.deepEqual(await c.ids('Patient', '_profile:below=http://example.org/fhir'), ['cf-p1']);
  assert.deepEqual(await c.ids('Patient', '_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R'), ['cf-p1']);
  assert.deepEqual(await c.ids('Patient', '_source=urn:source:emr2'), ['cf-p2']);
  assert.deepEqual(await c.ids('Patient', '_source=urn:source:emr1#a1'), ['cf-p1']);
});

test('uri :above and :below', async () => {
  assert.deepEqual(await c.ids('ValueSet', 'url:below=http://example.org/fhir/ValueSet'), ['cf-vs1', 'cf-vs2']);
  assert.deepEqual(await c.ids('ValueSet', 'url:above=http://example.org/fhir/ValueSet/glucose-and-local/v2'), ['cf-vs1']);
  assert.deepEqual(await c.ids('ValueSet', 'url=http://example.org/fhir/ValueSet/bp-expanded'), ['cf-vs2']);
});

test(':missing', async () => {
  assert.deepEqual(await c.ids('Observation', 'value-quantity:missing=true&subject=Patient/cf-p1'), ['cf-o1', 'cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'date:missing=false&subject=Patient/cf-p1'), ['cf-o9']);
  assert.deepEqual(await c.ids('Patient', 'organization:missing=false&name=odegaard,smith-jones'), ['cf-p1', 'cf-p2']);
});

test('dates: precision boundaries and time zones (HL7 Encounter periods in +10:00)', async () => {
  // home: 2015-01-17T16:00+10:00 – 16:30+10:00 = 06:00–06:30Z on the 17th.
  assert.deepEqual(await c.ids('Encounter', 'date=2015-01-17'), ['home']);
  assert.deepEqual(await c.ids('Encounter', 'date=2015-01-16'), []);
  // emerg starts 2017-02-01T07:15+10:00 = 2017-01-31T21:15Z and has no end.
  assert.deepEqual(await c.ids('Encounter', 'date=lt2017-02-01&subject=Patient/example'), ['emerg', 'home']);
  assert.deepEqual(await c.ids('Encounter', 'date=ge2017-02-01'), ['cf-e1', 'emerg']);
  // f203: 2013-03-11 – 2013-03-20 (dates), inside March 2013.
  assert.deepEqual(await c.ids('Encounter', 'date=2013-03'), ['f203']);
  assert.deepEqual(await c.ids('Encounter', 'date=sa2013-03-10'), ['cf-e1', 'emerg', 'f203', 'home']);
  // cf-o9 at 2021-03-01T23:30-05:00 is 2021-03-02T04:30Z.
  assert.deepEqual(await c.ids('Observation', 'date=2021-03-02&subject=Patient/cf-p1'), ['cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'date=2021-03-01&subject=Patient/cf-p1'), []);
  assert.deepEqual(await c.ids('Observation', 'date=2021-03-01T23:30:00-05:00&subject=Patient/cf-p1'), ['cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'date=ge2021-03-02T04:30:00Z&subject=Patient/cf-p1'), ['cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'date=gt2021-03-02T04:30:00Z&subject=Patient/cf-p1'), []);
});

test('dates: a period straddling midnight of the searched day', async () => {
  // cf-e1: 2020-12-31T22:00Z – 2021-01-01T02:00Z.
  const e = (q: string) => c.ids('Encounter', `${q}&subject=Patient/cf-p1`);
  assert.deepEqual(await e('date=2021-01-01'), []);
  assert.deepEqual(await e('date=2020-12-31'), []);
  assert.deepEqual(await e('date=2020-12'), []);
  assert.deepEqual(await e('date=gt2020-12-31'), ['cf-e1']);
  assert.deepEqual(await e('date=lt2021-01-01'), ['cf-e1']);
  assert.deepEqual(await e('date=ap2021-01-01'), ['cf-e1']);
  assert.deepEqual(await e('date=eb2021-01-02'), ['cf-e1']);
  assert.deepEqual(await e('date=eb2021-01-01'), []);
  assert.deepEqual(await e('date=sa2020-12-30'), ['cf-e1']);
  assert.deepEqual(await e('date=sa2020-12-31'), []);
  assert.deepEqual(await e('date=ne2021-01-01'), ['cf-e1']);
});
