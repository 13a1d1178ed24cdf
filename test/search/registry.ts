import type { SearchParamDef, SearchParamRegistry, SearchParamType } from '../../src/fhir/index-values.js';

/** A small registry built by hand from a few R4 SearchParameter definitions (codes, types, targets as in R4). */
function def(base: string[], code: string, type: SearchParamType, expression: string | null, target: string[] = []): SearchParamDef {
  return { url: `http://hl7.org/fhir/SearchParameter/${base[0]}-${code}`, code, type, base, expression, target, component: [] };
}

export const testParams: SearchParamDef[] = [
  def(['Resource'], '_profile', 'uri', 'Resource.meta.profile'),
  def(['Resource'], '_tag', 'token', 'Resource.meta.tag'),
  def(['DomainResource'], '_text', 'string', null),
  def(['Patient'], 'family', 'string', 'Patient.name.family'),
  def(['Patient'], 'name', 'string', 'Patient.name'),
  def(['Patient'], 'birthdate', 'date', 'Patient.birthDate'),
  def(['Patient'], 'gender', 'token', 'Patient.gender'),
  def(['Patient'], 'identifier', 'token', 'Patient.identifier'),
  def(['Patient'], 'general-practitioner', 'reference', 'Patient.generalPractitioner', ['Organization', 'Practitioner', 'PractitionerRole']),
  def(['Observation'], 'code', 'token', 'Observation.code'),
  def(['Observation'], 'status', 'token', 'Observation.status'),
  def(['Observation'], 'date', 'date', 'Observation.effective'),
  def(['Observation'], 'patient', 'reference', 'Observation.subject.where(resolve() is Patient)', ['Patient']),
  def(['Observation'], 'subject', 'reference', 'Observation.subject', ['Device', 'Group', 'Location', 'Patient']),
  def(['Observation'], 'value-quantity', 'quantity', '(Observation.value as Quantity)'),
  def(['Observation'], 'code-value-quantity', 'composite', 'Observation'),
  def(['Observation'], 'near', 'special', 'Observation.extension'),
  def(['Encounter'], 'date', 'date', 'Encounter.period'),
  def(['Encounter'], 'patient', 'reference', 'Encounter.subject.where(resolve() is Patient)', ['Patient']),
  def(['RiskAssessment'], 'probability', 'number', 'RiskAssessment.prediction.probability'),
];

export function createTestRegistry(params: SearchParamDef[] = testParams): SearchParamRegistry {
  const commons = ['Resource', 'DomainResource'];
  const get = (resourceType: string, code: string): SearchParamDef | undefined =>
    params.find((p) => p.code === code && p.base.includes(resourceType)) ??
    params.find((p) => p.code === code && p.base.some((b) => commons.includes(b)));
  return {
    get,
    forType: (resourceType) => params.filter((p) => p.base.includes(resourceType) || p.base.some((b) => commons.includes(b))),
  };
}
