/**
 * Hand-made edge cases for the search conformance suite, next to HL7's R4
 * examples. Every expected result in conformance-*.test.ts is written down
 * from reading these resources (and the HL7 example files), not computed.
 */
const loinc = 'http://loinc.org';
const ucum = 'http://unitsofmeasure.org';
const v20203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

const coded = (system: string, code: string, display?: string) => ({ coding: [{ system, code, ...(display ? { display } : {}) }] });
const qty = (value: number, code: string, system: string | null = ucum) => ({ value, unit: code, ...(system ? { system, code } : {}) });
const bp = (id: string, patient: string, systolic: number, diastolic: number) => ({
  resourceType: 'Observation', id, status: 'final', subject: { reference: `Patient/${patient}` },
  code: coded(loinc, '85354-9', 'Blood pressure panel'),
  component: [
    { code: coded(loinc, '8480-6', 'Systolic blood pressure'), valueQuantity: qty(systolic, 'mm[Hg]') },
    { code: coded(loinc, '8462-4', 'Diastolic blood pressure'), valueQuantity: qty(diastolic, 'mm[Hg]') },
  ],
});
const glucose = (id: string, subject: object, valueQuantity?: object) => ({
  resourceType: 'Observation', id, status: 'final', subject, code: coded(loinc, '2345-7', 'Glucose'),
  ...(valueQuantity ? { valueQuantity } : {}),
});

export const edgeCases: Record<string, unknown>[] = [
  {
    resourceType: 'Patient', id: 'cf-p1',
    meta: {
      tag: [{ system: 'urn:tags', code: 'vip' }], profile: ['http://example.org/fhir/StructureDefinition/vip-patient'],
      security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }], source: 'urn:source:emr1#a1',
    },
    identifier: [{ type: coded(v20203, 'MR'), system: 'urn:mrn', value: 'M1' }],
    name: [{ family: 'Ödegaard', given: ['Åsa'] }], birthDate: '1970-01-01',
    managingOrganization: { reference: 'Organization/cf-org1' }, generalPractitioner: [{ reference: 'Practitioner/cf-dr1' }],
  },
  {
    resourceType: 'Patient', id: 'cf-p2', meta: { tag: [{ system: 'urn:tags', code: 'test' }], source: 'urn:source:emr2' },
    identifier: [{ type: coded(v20203, 'DL'), system: 'urn:dl', value: 'M1' }],
    name: [{ family: 'Odegaard' }], managingOrganization: { reference: 'Organization/cf-org2' },
  },
  { resourceType: 'Patient', id: 'cf-p3', name: [{ family: 'Smith-Jones', given: ['Zoë'] }] },
  { resourceType: 'Organization', id: 'cf-org1', name: 'Northside Clinic', partOf: { reference: 'Organization/cf-org3' } },
  { resourceType: 'Organization', id: 'cf-org2', name: 'Southside Clinic' },
  { resourceType: 'Organization', id: 'cf-org3', name: 'Regional Health Network' },
  { resourceType: 'Practitioner', id: 'cf-dr1', name: [{ family: 'Welby' }] },
  { resourceType: 'Group', id: 'cf-g1', type: 'person', actual: true, name: 'Cohort Odegaard' },
  bp('cf-o1', 'cf-p1', 150, 90),
  bp('cf-o2', 'cf-p2', 110, 105),
  { ...glucose('cf-o3', { reference: 'Patient/cf-p1' }, qty(0.0054, 'g')), encounter: { reference: 'Encounter/cf-e1' } },
  glucose('cf-o4', { reference: 'Patient/cf-p2' }, qty(5.4, 'mg')),
  glucose('cf-o5', { reference: 'Patient/cf-p3' }, qty(5.4, 'mg', null)),
  glucose('cf-o6', { reference: 'Patient/cf-p1' }, qty(98, 'mg/dL')),
  glucose('cf-o7', { identifier: { system: 'urn:mrn', value: 'M1' } }),
  glucose('cf-o8', { reference: 'Group/cf-g1' }, qty(5.5, 'mg')),
  {
    resourceType: 'Observation', id: 'cf-o9', status: 'preliminary', subject: { reference: 'Patient/cf-p1' },
    code: { coding: [{ system: 'urn:local', code: 'x1' }], text: 'Local test' },
    effectiveDateTime: '2021-03-01T23:30:00-05:00',
  },
  {
    resourceType: 'Encounter', id: 'cf-e1', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
    subject: { reference: 'Patient/cf-p1' }, period: { start: '2020-12-31T22:00:00Z', end: '2021-01-01T02:00:00Z' },
  },
  {
    resourceType: 'ValueSet', id: 'cf-vs1', url: 'http://example.org/fhir/ValueSet/glucose-and-local', status: 'active',
    compose: { include: [{ system: loinc, concept: [{ code: '2345-7' }] }, { system: 'urn:local', concept: [{ code: 'x1' }] }] },
  },
  {
    resourceType: 'ValueSet', id: 'cf-vs2', url: 'http://example.org/fhir/ValueSet/bp-expanded', status: 'active',
    expansion: { timestamp: '2021-01-01', contains: [{ system: loinc, code: '85354-9', contains: [{ system: loinc, code: '8480-6' }] }] },
  },
  {
    resourceType: 'CodeSystem', id: 'cf-cs1', url: 'http://example.org/fhir/CodeSystem/labs', status: 'active', content: 'complete',
    hierarchyMeaning: 'is-a',
    concept: [
      { code: 'chem', concept: [{ code: 'glucose', concept: [{ code: 'glucose-fasting' }] }, { code: 'lipids' }] },
      { code: 'haem' },
    ],
  },
  ...['chem', 'glucose-fasting', 'lipids', 'haem'].map((code, k) => ({
    resourceType: 'Observation', id: `cf-o1${k}`, status: 'final', code: { coding: [{ system: 'http://example.org/fhir/CodeSystem/labs', code }] },
  })),
  // Numbers (RiskAssessment.prediction.probability), one without a prediction; the subject is nobody else's.
  ...[0.2, 0.25, 0.35, 0.5, null].map((p, k) => ({
    resourceType: 'RiskAssessment', id: `cf-ra${k + 1}`, status: 'final', subject: { reference: 'Patient/cf-nobody' },
    ...(p === null ? {} : { prediction: [{ probabilityDecimal: p }] }),
  })),
  {
    resourceType: 'List', id: 'cf-list1', status: 'current', mode: 'working',
    entry: [{ item: { reference: 'Patient/cf-p1' } }, { item: { reference: 'Patient/cf-p3' } }],
  },
];
