import { DAY_MS, ageInYears, toDateTime } from './dates.js';
import { concept, ref, synthMeta } from './fhir-shapes.js';
import type { FhirResource } from './fhir-shapes.js';
import type { Visit } from './encounter-resources.js';
import type { PatientProfile } from './patient-resource.js';
import type { Rng } from './random.js';
import { CONDITIONS, MEDICATIONS, PROCEDURES, SYSTEMS, VACCINES } from './vocab.js';
import type { ConditionDef, MedicationDef } from './vocab.js';

/** A condition and the visit at which it was diagnosed. */
export interface Diagnosis {
  def: ConditionDef;
  visit: Visit;
  condition: FhirResource;
}

const OBESITY = '414916001';

const MEDS_BY_CONDITION = new Map<string, MedicationDef[]>();
for (const med of MEDICATIONS) MEDS_BY_CONDITION.set(med.treats, [...(MEDS_BY_CONDITION.get(med.treats) ?? []), med]);

function status(system: string, code: string): unknown {
  return { coding: [{ system, code }] };
}

function conditionResource(rng: Rng, def: ConditionDef, visit: Visit, id: string, referenceMs: number): FhirResource {
  const onset = visit.start;
  const abatementMs = visit.startMs + rng.int(5, 21) * DAY_MS;
  // An acute illness still running at the reference date has no abatement yet (nothing is dated after it).
  const resolved = !def.chronic && abatementMs <= referenceMs;
  // con-4: an abatement date requires a resolved/inactive/remission clinical status.
  const abatement = resolved ? { abatementDateTime: toDateTime(abatementMs) } : {};
  const category = def.chronic
    ? { code: 'problem-list-item', display: 'Problem List Item' }
    : { code: 'encounter-diagnosis', display: 'Encounter Diagnosis' };
  return {
    resourceType: 'Condition',
    id,
    meta: synthMeta(),
    clinicalStatus: status(SYSTEMS.conditionClinical, resolved ? 'resolved' : 'active'),
    verificationStatus: status(SYSTEMS.conditionVerification, 'confirmed'),
    category: [{ coding: [{ system: SYSTEMS.conditionCategory, ...category }] }],
    code: concept(SYSTEMS.snomed, def),
    subject: { reference: visit.patientRef },
    encounter: ref(visit.encounter),
    onsetDateTime: onset,
    ...abatement,
    recordedDate: onset,
  };
}

/** Conditions by prevalence, each diagnosed at a visit when the patient was old enough. */
export function buildConditions(
  rng: Rng,
  profile: PatientProfile,
  visits: readonly Visit[],
  referenceMs: number,
): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (const def of CONDITIONS) {
    const eligible = visits.filter((v) => ageInYears(profile.birthMs, v.startMs) >= def.minAge);
    if (eligible.length === 0) continue;
    // Obesity follows the patient's drawn BMI so that weight observations agree with the problem list.
    const p = def.code === OBESITY ? (profile.bmi >= 30 ? 0.85 : 0) : def.prevalence;
    if (!rng.chance(p)) continue;
    const visit = rng.pick(eligible);
    out.push({ def, visit, condition: conditionResource(rng, def, visit, `${profile.id}-cond${out.length}`, referenceMs) });
  }
  return out;
}

export function buildMedicationRequests(rng: Rng, diagnoses: readonly Diagnosis[], prefix: string): FhirResource[] {
  const out: FhirResource[] = [];
  for (const { def, visit, condition } of diagnoses) {
    for (const med of MEDS_BY_CONDITION.get(def.code) ?? []) {
      if (!rng.chance(0.75)) continue;
      out.push({
        resourceType: 'MedicationRequest',
        id: `${prefix}-med${out.length}`,
        meta: synthMeta(),
        // Chronic therapy is still running at the reference date; antibiotics and the like are done.
        status: def.chronic ? 'active' : 'completed',
        intent: 'order',
        medicationCodeableConcept: concept(SYSTEMS.rxnorm, med),
        subject: { reference: visit.patientRef },
        encounter: ref(visit.encounter),
        authoredOn: visit.start,
        reasonReference: [ref(condition)],
        dosageInstruction: [{ sequence: 1, text: med.dosage }],
      });
    }
  }
  return out;
}

export function buildProcedures(rng: Rng, profile: PatientProfile, visits: readonly Visit[], prefix: string): FhirResource[] {
  const out: FhirResource[] = [];
  const count = rng.int(0, 3);
  for (let i = 0; i < count; i++) {
    const visit = rng.pick(visits);
    const age = ageInYears(profile.birthMs, visit.startMs);
    const eligible = PROCEDURES.filter((p) => age >= p.minAge && (p.sex === undefined || p.sex === profile.sex));
    if (eligible.length === 0) continue;
    out.push({
      resourceType: 'Procedure',
      id: `${prefix}-proc${out.length}`,
      meta: synthMeta(),
      status: 'completed',
      code: concept(SYSTEMS.snomed, rng.pick(eligible)),
      subject: { reference: visit.patientRef },
      encounter: ref(visit.encounter),
      performedDateTime: visit.start,
    });
  }
  return out;
}

export function buildImmunizations(rng: Rng, profile: PatientProfile, visits: readonly Visit[], prefix: string): FhirResource[] {
  const out: FhirResource[] = [];
  const count = rng.int(0, 3);
  for (let i = 0; i < count; i++) {
    const visit = rng.pick(visits);
    const age = ageInYears(profile.birthMs, visit.startMs);
    const eligible = VACCINES.filter((v) => age >= v.minAge && age <= v.maxAge);
    if (eligible.length === 0) continue;
    out.push({
      resourceType: 'Immunization',
      id: `${prefix}-imm${out.length}`,
      meta: synthMeta(),
      status: 'completed',
      vaccineCode: concept(SYSTEMS.cvx, rng.pick(eligible)),
      // Immunization names its subject `patient`, unlike most R4 clinical resources.
      patient: { reference: visit.patientRef },
      encounter: ref(visit.encounter),
      occurrenceDateTime: visit.start,
      primarySource: true,
    });
  }
  return out;
}
