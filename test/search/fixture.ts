import type { IndexValue } from '../../src/fhir/index-values.js';
import { normalizeString } from '../../src/fhir/normalize.js';
import type { Db } from '../../src/store/db.js';
import { createIndexWriter } from '../../src/store/index-writer.js';

/** A small fixed data set for the SQL conformance tests (see search-sql.test.ts for the expected sets). */
interface Row {
  tenant?: string;
  type: string;
  id: string;
  deleted?: boolean;
  lastUpdated?: string;
  values: IndexValue[];
}

const str = (param: string, value: string): IndexValue => ({ type: 'string', param, value });
const tok = (param: string, system: string | null, code: string | null, text: string | null = null): IndexValue => ({ type: 'token', param, system, code, text });
const date = (param: string, low: string | null, high: string | null): IndexValue => ({ type: 'date', param, low, high });
const ref = (param: string, targetType: string | null, targetId: string | null, url: string | null = null): IndexValue => ({
  type: 'reference', param, targetType, targetId, url, version: null, identifierSystem: null, identifierValue: null,
});
const num = (param: string, value: string, low: string, high: string): IndexValue => ({ type: 'number', param, value, low, high });
const qty = (param: string, value: string, system: string | null, code: string | null, unit: string | null): IndexValue => ({
  type: 'quantity', param, value, low: value, high: value, system, code, unit,
});
const uri = (param: string, value: string): IndexValue => ({ type: 'uri', param, value });

const loinc = 'http://loinc.org';
const ucum = 'http://unitsofmeasure.org';
const sd = 'http://x.org/fhir/StructureDefinition/';

export const rows: Row[] = [
  { type: 'Patient', id: 'p1', lastUpdated: '2024-01-01T00:00:00.000500Z', values: [
    str('family', 'Smith'), str('name', 'John'), str('name', 'Smith'),
    date('birthdate', '1980-05-15T00:00:00.000Z', '1980-05-15T23:59:59.999Z'),
    tok('gender', 'http://hl7.org/fhir/administrative-gender', 'male'), tok('identifier', 'sys1', 'A1', 'MRN'),
    ref('general-practitioner', 'Practitioner', 'dr1'), uri('_profile', `${sd}us-core-patient`),
  ] },
  { type: 'Patient', id: 'p2', lastUpdated: '2024-01-02T00:00:00Z', values: [
    str('family', 'Smíth'), str('family', 'Smithers'),
    date('birthdate', '1980-05-01T00:00:00.000Z', '1980-05-31T23:59:59.999Z'),
    tok('gender', 'http://hl7.org/fhir/administrative-gender', 'female'), tok('identifier', 'sys2', 'A1'),
    ref('general-practitioner', null, null, 'http://other.org/fhir/Practitioner/ext'), uri('_profile', `${sd}other`),
  ] },
  { type: 'Patient', id: 'p3', values: [
    str('family', 'Jones'), date('birthdate', '1980-01-01T00:00:00.000Z', '1980-12-31T23:59:59.999Z'),
    tok('gender', 'http://hl7.org/fhir/administrative-gender', 'male'), tok('identifier', null, 'B2'),
    ref('general-practitioner', 'Organization', 'org1'),
  ] },
  { type: 'Patient', id: 'p4', values: [str('family', 'O%Brien_x')] },
  { type: 'Patient', id: 'p5', deleted: true, values: [str('family', 'Smith'), tok('gender', null, 'male')] },
  { tenant: 'other', type: 'Patient', id: 'p6', values: [str('family', 'Smith'), tok('gender', null, 'male')] },
  { type: 'Encounter', id: 'e1', values: [date('date', '2020-01-01T10:00:00.000Z', '2020-01-01T12:00:00.000Z')] },
  { type: 'Encounter', id: 'e2', values: [date('date', '2020-01-01T23:00:00.000Z', '2020-01-02T01:00:00.000Z')] },
  { type: 'Encounter', id: 'e3', values: [date('date', '2019-12-31T00:00:00.000Z', null)] },
  { type: 'Encounter', id: 'e4', values: [date('date', null, '2019-12-31T05:00:00.000Z')] },
  { type: 'Encounter', id: 'e5', values: [date('date', '2020-01-02T00:00:00.000Z', '2020-01-02T00:00:00.000Z')] },
  { type: 'Encounter', id: 'e6', values: [] },
  { type: 'Observation', id: 'o1', values: [
    ref('subject', 'Patient', 'p1'), ref('patient', 'Patient', 'p1'), tok('code', loinc, '8480-6', 'Systolic blood pressure'),
    qty('value-quantity', '120', ucum, 'mm[Hg]', 'mmHg'), tok('status', null, 'final'),
  ] },
  { type: 'Observation', id: 'o2', values: [
    ref('subject', 'Patient', 'p1'), ref('patient', 'Patient', 'p1'), tok('code', loinc, '8462-4', 'Diastolic blood pressure'),
    qty('value-quantity', '80', ucum, 'mm[Hg]', 'mmHg'), tok('status', null, 'preliminary'),
  ] },
  { type: 'Observation', id: 'o3', values: [
    ref('subject', 'Patient', 'p2'), ref('patient', 'Patient', 'p2'), tok('code', loinc, '8480-6'),
    qty('value-quantity', '5.4', null, null, 'mg'), tok('status', null, 'final'),
  ] },
  { type: 'Observation', id: 'o4', values: [ref('subject', 'Group', 'g1'), tok('code', loinc, '8480-6'), qty('value-quantity', '100.4', ucum, 'mg', 'mg')] },
  { type: 'RiskAssessment', id: 'r1', values: [num('probability', '0.4', '0.35', '0.45')] },
  { type: 'RiskAssessment', id: 'r2', values: [num('probability', '0.45', '0.445', '0.455')] },
  { type: 'RiskAssessment', id: 'r3', values: [num('probability', '0.351', '0.3505', '0.3515')] },
  { type: 'RiskAssessment', id: 'r4', values: [] },
  // Several values, two of them equal: sorts must still list r5 once.
  { type: 'RiskAssessment', id: 'r5', values: [
    num('probability', '0.2', '0.15', '0.25'), num('probability', '0.45', '0.445', '0.455'), num('probability', '0.45', '0.445', '0.455'),
  ] },
];

export async function loadFixture(db: Db): Promise<void> {
  const writer = createIndexWriter({ normalize: normalizeString });
  await db.query(`INSERT INTO tenant (tenant_id, name) VALUES ('other', 'Other') ON CONFLICT DO NOTHING`);
  await db.transaction(async (tx) => {
    for (const r of rows) {
      const tenant = r.tenant ?? 'default';
      await tx.query(
        `INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, deleted, content) VALUES ($1, $2, $3, 1, $4, $5, $6)`,
        [tenant, r.type, r.id, r.lastUpdated ?? '2023-06-01T00:00:00Z', r.deleted ?? false, Buffer.from(`{"id":"${r.id}"}`)],
      );
      await writer.insert(tx, tenant, [{ resourceType: r.type, id: r.id, values: r.values }]);
    }
  });
}
