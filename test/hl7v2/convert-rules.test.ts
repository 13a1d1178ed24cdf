import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HavenError } from '../../src/kernel/errors.js';
import { createHl7Converter, parseMessage } from '../../src/hl7v2/index.js';
import { createValidator } from '../../src/fhir/validation/index.js';
import { loadSamples } from './samples.js';
import { builtinConverter, convertText, hl7, ofType, resources, type Res } from './convert-support.js';

const converter = builtinConverter();
const MSH = (type: string, ts = '20240101120000+0100'): string => `MSH|^~\\&|EPIC|HOSP|HAVEN|HAVEN|${ts}||${type}|C1|P|2.5.1`;
const PID = 'PID|1||123456^^^HOSP&2.16.840.1.113883.19.5&ISO^MR~99^^^LOCAL^PI||DOE^JANE^Q||19800215|F';
const PV1 = (extra = ''): string => `PV1|1|I|WARD1^101^A||||1234^SMITH^ALAN|||MED|||||||||V0001^^^HOSP&2.16.840.1.113883.19.5&ISO^VN|||||||||||||||||||||||||20240101113000${extra}`;
const adt = (trigger: string, pv1 = PV1()): string => hl7(MSH(`ADT^${trigger}^ADT_A01`), 'EVN|' + trigger, PID, pv1);

function byType(result: ReturnType<typeof convertText>, type: string): Res {
  const found = ofType(resources(result), type)[0];
  assert.ok(found, `no ${type}`);
  return found;
}

function entryOf(result: ReturnType<typeof convertText>, type: string): Res {
  return (result.bundle.entry as Res[]).find((e) => e.resource.resourceType === type)!;
}

describe('hl7v2 convert: identity and idempotency', () => {
  it('converting the same message twice, even with another converter, gives identical bundles', () => {
    for (const sample of loadSamples()) {
      const a = convertText(converter, sample.bytes, 'm-1');
      const b = convertText(createHl7Converter({}), sample.bytes, 'm-1');
      assert.deepEqual(b, a, sample.name);
    }
  });

  it('an identifier sent twice (SSN in PID-3 and PID-19) appears once, with its type', () => {
    const pid = 'PID|1||123456^^^HOSP&2.16.840.1.113883.19.5&ISO^MR~999-88-7777^^^SSA^SS||DOE^JANE||19800215|F|||||||||||999-88-7777';
    const patient = byType(convertText(converter, hl7(MSH('ADT^A04^ADT_A01'), 'EVN|A04', pid, PV1())), 'Patient');
    const ssn = (patient.identifier as { system?: string; value: string; type?: unknown }[]).filter((i) => i.value === '999-88-7777');
    assert.equal(ssn.length, 1, JSON.stringify(ssn));
    assert.equal(ssn[0]!.system, 'http://hl7.org/fhir/sid/us-ssn');
    assert.ok(ssn[0]!.type, 'the PID-3 one, typed SS, is kept');
  });

  it('matches the patient by the identifier with an assigning authority (conditional update)', () => {
    const r = convertText(converter, adt('A01'));
    const e = entryOf(r, 'Patient');
    assert.equal(e.request.method, 'PUT');
    assert.equal(e.request.url, `Patient?identifier=${encodeURIComponent('urn:oid:2.16.840.1.113883.19.5|123456')}`);
    assert.equal(e.resource.id, undefined);
    assert.deepEqual(r.patientIdentifiers, ['urn:oid:2.16.840.1.113883.19.5|123456', 'urn:haven:hl7v2:LAB%5EHOSP:LOCAL|99']);
    assert.equal(byType(r, 'Encounter').subject.reference, e.fullUrl);
  });

  it('a later message about the same visit targets the same Encounter and changes its status', () => {
    const admit = convertText(converter, adt('A01'), 'm-1');
    const discharge = convertText(converter, adt('A03', PV1('|20240105100000')), 'm-2');
    assert.equal(entryOf(discharge, 'Encounter').request.url, entryOf(admit, 'Encounter').request.url);
    assert.equal(byType(admit, 'Encounter').status, 'in-progress');
    assert.equal(byType(discharge, 'Encounter').status, 'finished');
    assert.equal(byType(discharge, 'Encounter').period.end, '2024-01-05T10:00:00+01:00');
    assert.notEqual(entryOf(discharge, 'Provenance').request.url, entryOf(admit, 'Provenance').request.url);
  });

  it('each ADT trigger sets the Encounter status its event means, whatever the message structure', () => {
    // PV1 carries an admit time (PV1-44), so a trigger without its own status reads in-progress from it.
    const statusOf = (trigger: string, structure: string) =>
      byType(convertText(converter, hl7(MSH(`ADT^${trigger}^${structure}`), `EVN|${trigger}`, PID, PV1())), 'Encounter').status;
    const expected: [string, string, string][] = [
      ['A14', 'ADT_A05', 'planned'], ['A27', 'ADT_A21', 'cancelled'], ['A38', 'ADT_A38', 'cancelled'], ['A11', 'ADT_A09', 'cancelled'],
      ['A21', 'ADT_A21', 'onleave'], ['A53', 'ADT_A52', 'onleave'], ['A22', 'ADT_A21', 'in-progress'], ['A52', 'ADT_A52', 'in-progress'],
      ['A06', 'ADT_A06', 'in-progress'], ['A07', 'ADT_A06', 'in-progress'], ['A12', 'ADT_A12', 'in-progress'], ['A15', 'ADT_A15', 'in-progress'],
      ['A16', 'ADT_A16', 'in-progress'], ['A25', 'ADT_A21', 'in-progress'], ['A26', 'ADT_A21', 'in-progress'],
      // Triggers that share the ADT_A21 structure with A21 must not fall back to its leave-of-absence status.
      ['A23', 'ADT_A21', 'in-progress'], ['A29', 'ADT_A21', 'in-progress'], ['A32', 'ADT_A21', 'in-progress'], ['A33', 'ADT_A21', 'in-progress'],
    ];
    assert.deepEqual(expected.map(([t, st]) => [t, statusOf(t, st)]), expected.map(([t, , status]) => [t, status]));
  });

  it('visit numbers match across senders only when their assigning authority is global', () => {
    const local = adt('A01', PV1().replace('V0001^^^HOSP&2.16.840.1.113883.19.5&ISO^VN', 'V0001^^^^VN'));
    const url = (text: string, sender: string): string => entryOf(convertText(converter, text, 'm-1', sender), 'Encounter').request.url;
    assert.equal(url(adt('A01'), 'APP1^FAC'), url(adt('A01'), 'APP2^FAC'));
    assert.notEqual(url(local, 'APP1^FAC'), url(local, 'APP2^FAC'));
    assert.match(url(adt('A01'), 'APP1^FAC'), /^Encounter\?identifier=urn%3Aoid%3A2\.16\.840\.1\.113883\.19\.5%7CV0001$/);
  });

  it('an ORU creates the visit only when Haven does not know it (ADT owns the Encounter)', () => {
    const oru = hl7(MSH('ORU^R01^ORU_R01'), PID, PV1(), 'OBR|1|O1^E|F1^L|2345-7^Glucose^LN', 'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F');
    const e = entryOf(convertText(converter, oru), 'Encounter');
    assert.equal(e.request.method, 'POST');
    assert.equal(e.request.ifNoneExist, `identifier=${encodeURIComponent('urn:oid:2.16.840.1.113883.19.5|V0001')}`);
    assert.equal(e.fullUrl, entryOf(convertText(converter, adt('A01')), 'Encounter').fullUrl);
  });

  it('a visit without a number is written by a deterministic id', () => {
    const e = entryOf(convertText(converter, adt('A01', 'PV1|1|O|CLINIC||||||||||||||||||||||||||||||||||||||||||20240101113000')), 'Encounter');
    assert.match(e.request.url, /^Encounter\/[0-9a-f-]{36}$/);
  });
});

describe('hl7v2 convert: results', () => {
  const oru = hl7(
    MSH('ORU^R01^ORU_R01'), PID, PV1(),
    'ORC|RE|ORD1^EPIC|FIL1^LAB||CM',
    'OBR|1|ORD1^EPIC|FIL1^LAB|24323-8^Metabolic panel^LN|||20240101080000|||||||||||||||20240101110000|||F',
    'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|70-99|N|||F',
    'NTE|1||Fasting',
    'OBX|2|SN|777-3^Platelets^LN||<^10|10*3/uL^^UCUM||||F',
    'OBX|3|SN|5905-5^Monocytes^LN||^2^-^8|%^^UCUM||||F',
    'OBX|4|CWE|600-7^Culture^LN||27268008^Salmonella^SCT||||||P',
    'OBX|5|TX|8251-1^Comment^LN||line one~line two||||||F',
    'OBX|6|NM|2160-0^Creatinine^LN||high||||||F',
  );

  it('maps OBX-5 by OBX-2 with UCUM units, notes and the report/order links', () => {
    const r = convertText(converter, oru);
    const obs = ofType(resources(r), 'Observation');
    assert.equal(obs.length, 6);
    assert.deepEqual(obs[0]!.valueQuantity, { value: 95, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' });
    assert.deepEqual(obs[0]!.code.coding[0], { system: 'http://loinc.org', code: '2345-7', display: 'Glucose' });
    assert.deepEqual(obs[0]!.note, [{ text: 'Fasting' }]);
    assert.equal(obs[1]!.valueQuantity.comparator, '<');
    assert.deepEqual([obs[2]!.valueRange.low.value, obs[2]!.valueRange.high.value], [2, 8]);
    assert.equal(obs[3]!.valueCodeableConcept.coding[0].system, 'http://snomed.info/sct');
    assert.equal(obs[3]!.status, 'preliminary');
    assert.equal(obs[4]!.valueString, 'line one\nline two');
    assert.equal(obs[5]!.valueString, 'high');
    assert.ok(r.warnings.some((w) => /OBX-5.*not a number/.test(w)));
    // The times without a zone take MSH-7's (+01:00).
    assert.equal(obs[0]!.effectiveDateTime, '2024-01-01T08:00:00+01:00');
    const report = byType(r, 'DiagnosticReport');
    const urls = (r.bundle.entry as Res[]).filter((e) => e.resource.resourceType === 'Observation').map((e) => e.fullUrl);
    assert.deepEqual(report.result.map((x: Res) => x.reference), urls);
    assert.equal(report.status, 'final');
    assert.equal(report.issued, '2024-01-01T11:00:00+01:00');
    const order = entryOf(r, 'ServiceRequest');
    assert.equal(report.basedOn[0].reference, order.fullUrl);
    assert.equal(order.resource.code.coding[0].code, '24323-8');
    assert.equal(order.resource.status, 'completed');
  });

  it('OBX-8 flags become v3 ObservationInterpretation codings; a code outside table 0078 is kept as sent', () => {
    const flagged = hl7(
      MSH('ORU^R01^ORU_R01'), PID, PV1(),
      'OBR|1|ORD2^EPIC|FIL2^LAB|24323-8^Metabolic panel^LN',
      'OBX|1|NM|2345-7^Glucose^LN||250|mg/dL^mg/dL^UCUM|70-99|HH|||F',
      'OBX|2|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|70-99|N^Normal^HL70078|||F',
      'OBX|3|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|70-99|QQ^Local flag^L|||F',
    );
    const obs = ofType(resources(convertText(converter, flagged)), 'Observation');
    const v3 = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
    assert.deepEqual(obs[0]!.interpretation, [{ coding: [{ system: v3, code: 'HH', display: 'Critical high' }] }]);
    assert.deepEqual(obs[1]!.interpretation, [{ coding: [{ system: v3, code: 'N', display: 'Normal' }] }]);
    assert.deepEqual(obs[2]!.interpretation, [{ coding: [{ code: 'QQ', display: 'Local flag' }] }]);
  });

  it('keeps the Observation ids when a corrected result arrives in a new message', () => {
    const first = convertText(converter, oru, 'm-1');
    const corrected = convertText(converter, oru.replace('|95|', '|96|').replace('||N|||F', '||N|||C'), 'm-2');
    const ids = (x: typeof first): string[] => (x.bundle.entry as Res[]).filter((e) => e.resource.resourceType === 'Observation').map((e) => e.request.url);
    assert.deepEqual(ids(corrected), ids(first));
    assert.equal(byType(corrected, 'Observation').valueQuantity.value, 96);
  });
});

describe('hl7v2 convert: merge, failures, time zones', () => {
  it('A40 links survivor and retired patient and reports the merge', () => {
    const msg = hl7(MSH('ADT^A40^ADT_A39'), 'EVN|A40', PID, 'MRG|555^^^HOSP&2.16.840.1.113883.19.5&ISO^MR||||||DOE^J');
    const r = convertText(converter, msg);
    assert.deepEqual(r.merge, { survivor: 'urn:oid:2.16.840.1.113883.19.5|123456', retired: 'urn:oid:2.16.840.1.113883.19.5|555' });
    const [survivor, retired] = (r.bundle.entry as Res[]).filter((e) => e.resource.resourceType === 'Patient');
    assert.equal(retired!.resource.active, false);
    assert.deepEqual(retired!.resource.link, [{ other: { reference: survivor!.fullUrl }, type: 'replaced-by' }]);
    assert.deepEqual(survivor!.resource.link, [{ other: { reference: retired!.fullUrl }, type: 'replaces' }]);
    assert.equal(retired!.request.url, `Patient?identifier=${encodeURIComponent('urn:oid:2.16.840.1.113883.19.5|555')}`);
  });

  it('fails with HL7_CONVERSION_FAILED when PID-3 is missing, naming the field only', () => {
    const msg = hl7(MSH('ADT^A01^ADT_A01'), 'PID|1||||SECRETNAME^JANE||19800215|F', PV1());
    assert.throws(() => convertText(converter, msg), (e: unknown) => {
      assert.ok(e instanceof HavenError);
      assert.equal(e.code, 'HL7_CONVERSION_FAILED');
      assert.equal(e.category, 'unprocessable');
      assert.match(e.message, /PID-3/);
      assert.doesNotMatch(e.message, /SECRETNAME/);
      return true;
    });
  });

  it('fails with HL7_NO_TEMPLATE when nothing in the message maps', () => {
    const msg = hl7(MSH('ZZZ^Z01'), 'ZXX|1|whatever');
    assert.throws(() => convertText(converter, msg), (e: unknown) => e instanceof HavenError && e.code === 'HL7_NO_TEMPLATE' && e.category === 'unsupported');
  });

  it('keeps a time without any zone to its day, with a warning', () => {
    const msg = hl7('MSH|^~\\&|EPIC|HOSP|HAVEN|HAVEN|20240101120000||ADT^A01^ADT_A01|C1|P|2.5.1', PID, PV1());
    const r = convertText(converter, msg);
    assert.equal(byType(r, 'Encounter').period.start, '2024-01-01');
    assert.ok(r.warnings.some((w) => /PV1-44.*without a zone/.test(w)));
  });

  it('never puts PHI values in warnings', () => {
    for (const sample of loadSamples()) {
      const message = parseMessage(sample.bytes);
      const phi = [message.get('PID-5.1'), message.get('PID-3.1'), message.get('PID-5.2'), message.get('PID-7')].filter((v): v is string => !!v && v.length > 2);
      const r = convertText(converter, sample.bytes);
      for (const w of r.warnings) for (const v of phi) assert.ok(!w.includes(v), `${sample.name}: a warning quotes a PID value`);
    }
  });
});

describe('hl7v2 convert: immunizations (VXU)', () => {
  // RXA-1..21: sub-id, admin sub-id, start, end, vaccine, amount, units, dosage form, information source (9),
  // … lot (15), expiry (16), manufacturer (17), refusal reason (18), indication (19), completion (20), action (21).
  const rxa = (fields: Record<number, string>): string => {
    const f = Array.from({ length: 22 }, (_, i) => fields[i] ?? '');
    f[0] = 'RXA';
    return f.join('|');
  };
  const vxu = (...rxas: string[]): string =>
    hl7(MSH('VXU^V04^VXU_V04'), PID, ...rxas.flatMap((r, i) => [`ORC|RE||IZ-${i}^CLINIC`, r]));
  const immunizations = (msg: string) => ofType(resources(convertText(converter, msg)), 'Immunization');

  it('a new record is a primary source; a historical one is not, and says where it came from', () => {
    const [given, historical] = immunizations(vxu(
      rxa({ 1: '0', 2: '1', 3: '20240101100000', 5: '08^Hep B^CVX', 6: '0.5', 7: 'mL^mL^UCUM', 9: '00^New record^NIP001', 20: 'CP' }),
      rxa({ 1: '0', 2: '1', 3: '20200601', 5: '20^DTaP^CVX', 6: '999', 9: '01^Historical^NIP001', 20: 'CP' }),
    ));
    assert.equal(given!.primarySource, true);
    assert.equal(given!.reportOrigin, undefined);
    assert.deepEqual(given!.doseQuantity, { value: 0.5, unit: 'mL' });
    assert.equal(historical!.primarySource, false);
    assert.equal(historical!.reportOrigin.coding[0].code, '01');
    // 999: the amount is not known (CDC IIS guide): no doseQuantity rather than 999 of nothing.
    assert.equal(historical!.doseQuantity, undefined);
  });

  it('a refusal is not-done with its reason; a deletion (RXA-21 D) is entered-in-error', () => {
    const [refused, deleted] = immunizations(vxu(
      rxa({ 1: '0', 2: '1', 3: '20240101100000', 5: '03^MMR^CVX', 6: '999', 18: '00^Parental decision^NIP002', 20: 'RE' }),
      rxa({ 1: '0', 2: '1', 3: '20240101100000', 5: '08^Hep B^CVX', 6: '0.5', 7: 'mL^mL^UCUM', 20: 'CP', 21: 'D' }),
    ));
    assert.equal(refused!.status, 'not-done');
    assert.equal(refused!.statusReason.coding[0].code, '00');
    assert.equal(deleted!.status, 'entered-in-error');
  });

  it('NCIT route codes carry the NCI Thesaurus URI', () => {
    const msg = vxu(rxa({ 1: '0', 2: '1', 3: '20240101100000', 5: '08^Hep B^CVX', 20: 'CP' })) + '\rRXR|C28161^Intramuscular^NCIT';
    assert.equal(immunizations(msg)[0]!.route.coding[0].system, 'http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl');
  });
});

describe('hl7v2 convert: scheduling (SIU)', () => {
  const siu = (...resourceSegments: string[]): string =>
    hl7(MSH('SIU^S12^SIU_S12'), 'SCH|A-100|F-100||||Add|ROUTINE|Normal|30|min', PID, 'RGS|1|A', 'AIS|1|A|76164006^Biopsy of colon^SCT|20240301093000+0100', ...resourceSegments);
  const appointment = (msg: string) => byType(convertText(converter, msg), 'Appointment');
  const validator = createValidator();

  it('each personnel segment is one participant: the person with their role and time, a role still to be filled, a person without a role', () => {
    const a = appointment(siu(
      'AIP|1|A|1210^GE^ROBERT|010^Gastroenterologist^L||20240301093000+0100',
      'AIP|2|A||ANE^Anaesthetist^L',
      'AIP|3|A|1300^NURSE^NORA',
      'AIG|1|A|5001^Video Colonoscope^L|101^Equipment^L||||20240301093000+0100',
      'AIL|1|A|ENDO^Room 2^^GH Clinic|C^Clinic^HL70305||20240301093000+0100',
    ));
    const people = a.participant.filter((p: Res) => p.actor?.identifier?.value !== undefined || p.type?.[0]?.coding?.[0]?.code === 'ANE');
    assert.deepEqual(
      people.map((p: Res) => [p.actor?.identifier?.value, p.type?.[0]?.coding?.[0]?.code, p.status, p.period?.start]),
      [
        ['1210', '010', 'accepted', '2024-03-01T09:30:00+01:00'],
        [undefined, 'ANE', 'needs-action', undefined],
        ['1300', undefined, 'accepted', undefined],
      ],
    );
    const device = a.participant.find((p: Res) => p.actor?.display === 'Video Colonoscope');
    assert.deepEqual([device.type[0].coding[0].code, device.status, device.period.start], ['101', 'accepted', '2024-03-01T09:30:00+01:00']);
    const room = a.participant.find((p: Res) => p.period && p.actor?.display?.includes('Room 2'));
    assert.ok(room, 'the location participant carries its time');
    // Every participant has an actor or a type (R4 invariant app-1), and the Appointment validates.
    assert.ok(a.participant.every((p: Res) => p.actor !== undefined || p.type !== undefined));
    const errors = validator.validate(a).filter((i) => i.severity === 'error' || i.severity === 'fatal');
    assert.deepEqual(errors, []);
  });

  it('derives the end a booked appointment needs (R4 app-2/app-3) from the start and a duration', () => {
    // SCH-9/10: 30 min; AIS-7/8 wins when sent; TQ1-8, then TQ1-7 + TQ1-13; an unknown unit derives nothing (warned, no value shown).
    const times = (msg: string) => {
      const result = convertText(converter, msg);
      const a = byType(result, 'Appointment');
      return [a.start, a.end, result.warnings.filter((w) => w.includes('duration unit')).length];
    };
    assert.deepEqual(times(siu()), ['2024-03-01T09:30:00+01:00', '2024-03-01T10:00:00+01:00', 0]);
    const withAis = (duration: string) =>
      hl7(MSH('SIU^S12^SIU_S12'), 'SCH|A-100|F-100||||Add|ROUTINE|Normal|30|min', PID, 'RGS|1|A', `AIS|1|A|76164006^Biopsy of colon^SCT|20240301233000.5+0530|||${duration}`);
    assert.deepEqual(times(withAis('90|min^Minutes^ISO+')), ['2024-03-01T23:30:00.5+05:30', '2024-03-02T01:00:00.500+05:30', 0]);
    assert.deepEqual(times(withAis('2|H')), ['2024-03-01T23:30:00.5+05:30', '2024-03-02T01:30:00.500+05:30', 0]);
    assert.deepEqual(times(withAis('2|fortnights')), ['2024-03-01T23:30:00.5+05:30', '2024-03-02T00:00:00.500+05:30', 1]);
    // v2.3-2.4: SCH-11 carries the start; without SCH-11.5 the end is the start plus SCH-9 (here in hours).
    assert.deepEqual(times(hl7(MSH('SIU^S12^SIU_S12'), 'SCH|A-100|F-100||||Add|ROUTINE|Normal|2|HOURS|^^^20240301080000-0500', PID, 'RGS|1|A')), ['2024-03-01T08:00:00-05:00', '2024-03-01T10:00:00-05:00', 0]);
    const tq1 = (fields: string) => hl7(MSH('SIU^S12^SIU_S12'), 'SCH|A-100|F-100||||Add', `TQ1|${fields}`, PID, 'RGS|1|A');
    assert.deepEqual(times(tq1('||||||20240301093000-0500|20240301094500-0500')), ['2024-03-01T09:30:00-05:00', '2024-03-01T09:45:00-05:00', 0]);
    assert.deepEqual(times(tq1('||||||20240301093000-0500||||||45^min&&ISO+')), ['2024-03-01T09:30:00-05:00', '2024-03-01T10:15:00-05:00', 0]);
  });

  it('each booking\'s filler status (AIx-12, table 0278) becomes the participant\'s status', () => {
    const a = appointment(siu('AIP|1|A|1210^GE^ROBERT|||||||||Cancelled', 'AIP|2|A|1300^NURSE^NORA|||||||||Pending', 'AIL|1|A|ENDO^Room 2|||||||||Waitlist'));
    const status = (match: (p: Res) => boolean) => a.participant.find(match)?.status;
    assert.equal(status((p) => p.actor?.identifier?.value === '1210'), 'declined');
    assert.equal(status((p) => p.actor?.identifier?.value === '1300'), 'tentative');
    assert.equal(status((p) => String(p.actor?.display ?? '').includes('Room 2')), 'tentative');
  });

  it('a personnel segment with neither person nor role adds no participant', () => {
    const without = appointment(siu('AIP|1|A||||20240301093000+0100'));
    const withOne = appointment(siu('AIP|1|A|1210^GE^ROBERT'));
    assert.equal(withOne.participant.length, without.participant.length + 1);
  });
});

describe('hl7v2 convert: IN1 insurance', () => {
  const in1 = (n: number, plan: string, relationship: string, insured = '') =>
    `IN1|${n}|${plan}^${plan} Plan|BCBS^^^^NIIP|Blue Cross||||GRP-${n}|Group ${n}|||20240101|20241231||HMO|${insured}|${relationship}|19790101|1 Main St^^Town^ST^12345|||||||||||||||||POL-${n}|||||||F||||||MEM-${n}`;
  const message = (...segments: string[]) => hl7(MSH('ADT^A04^ADT_A01'), 'EVN|A04', PID, PV1(), ...segments);
  it('each Coverage names its own subscriber: the Patient for SEL, else a RelatedPerson made from the insured', () => {
    const result = convertText(converter, message(in1(1, 'P1', 'SEL^Self', 'DOE^JANE'), in1(2, 'P2', 'SPO^Spouse', 'DOE^JOHN'), in1(3, 'P3', 'CHD^Child', 'DOE^JIMMY')));
    const list = resources(result);
    const ref = (r: Res) => (result.bundle.entry as Res[]).find((e) => e.resource === r)!.fullUrl as string;
    const patient = byType(result, 'Patient');
    const [self, spouse, child] = ofType(list, 'Coverage');
    const people = ofType(list, 'RelatedPerson');
    assert.equal(people.length, 2, 'no RelatedPerson for the patient insuring themselves');
    assert.equal(self!.subscriber.reference, ref(patient));
    assert.deepEqual(self!.relationship.coding[0], { system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: 'self', display: 'Self' });
    const subscriberOf = (c: Res) => people.find((p) => ref(p) === c.subscriber.reference)!;
    assert.equal(subscriberOf(spouse!).name[0].given[0], 'JOHN');
    assert.equal(spouse!.relationship.coding[0].code, 'spouse');
    assert.equal(subscriberOf(child!).name[0].given[0], 'JIMMY');
    assert.equal(child!.relationship.coding[0].code, 'child');
    assert.equal(subscriberOf(child!).patient.reference, ref(patient));
    assert.equal(subscriberOf(child!).gender, 'female');
    assert.deepEqual(child!.identifier, [{ value: 'POL-3' }]);
    assert.equal(child!.subscriberId, 'MEM-3');
    assert.deepEqual(child!.class.map((c: Res) => [c.type.coding[0].code, c.value, c.name]), [['group', 'GRP-3', 'Group 3'], ['plan', 'P3', 'P3 Plan']]);
    for (const r of list) assert.deepEqual(createValidator().validate(r).filter((i) => i.severity === 'error'), [], r.resourceType);
  });

  it('an unknown relationship (UNK) gets no subscriber-relationship code (a warning says so), only its text; the insured still becomes the subscriber', () => {
    const result = convertText(converter, message(in1(1, 'P1', 'UNK^Unknown', 'ROE^RICHARD')));
    const coverage = byType(result, 'Coverage');
    assert.deepEqual(coverage.relationship, { text: 'Unknown' });
    assert.ok(result.warnings.some((w) => w.startsWith('IN1-17.1 (segment 5)')), JSON.stringify(result.warnings));
    assert.equal(byType(result, 'RelatedPerson').name[0].family, 'ROE');
  });
});
