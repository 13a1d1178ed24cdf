import { MINUTE_MS, ageInYears, toDateTime } from './dates.js';
import { concept, quantity, ref, synthMeta } from './fhir-shapes.js';
import type { FhirResource } from './fhir-shapes.js';
import type { PatientProfile } from './patient-resource.js';
import type { Rng } from './random.js';
import { BP_PANEL, ENCOUNTER_KINDS, LABS, SYSTEMS, VITALS } from './vocab.js';
import type { EncounterKind, Measure } from './vocab.js';

/** One visit, as the other generators see it. */
export interface Visit {
  encounter: FhirResource;
  kind: EncounterKind;
  startMs: number;
  /** startMs as a FHIR dateTime, formatted once: formatting dates was 40 % of generation time. */
  start: string;
  /** `Patient/<id>`, copied into each resource so no two resources share an object. */
  patientRef: string;
}

const TOTAL_WEIGHT = ENCOUNTER_KINDS.reduce((sum, k) => sum + k.weight, 0);

function pickKind(rng: Rng): EncounterKind {
  let roll = rng.next() * TOTAL_WEIGHT;
  for (const kind of ENCOUNTER_KINDS) {
    roll -= kind.weight;
    if (roll < 0) return kind;
  }
  return ENCOUNTER_KINDS[0] as EncounterKind;
}

export function buildEncounter(rng: Rng, patient: FhirResource, id: string, startMs: number): Visit {
  const kind = pickKind(rng);
  const endMs = startMs + rng.int(kind.minutes[0], kind.minutes[1]) * MINUTE_MS;
  const start = toDateTime(startMs);
  const encounter: FhirResource = {
    resourceType: 'Encounter',
    id,
    meta: synthMeta(),
    status: 'finished',
    // R4 Encounter.class is a single Coding (not a CodeableConcept).
    class: { system: SYSTEMS.actCode, code: kind.classCode, display: kind.classDisplay },
    type: [concept(SYSTEMS.snomed, kind.type)],
    subject: ref(patient),
    period: { start, end: toDateTime(endMs) },
  };
  return { encounter, kind, startMs, start, patientRef: `Patient/${patient.id}` };
}

function round(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}

/** What a measurement depends on besides the measure: active chronic conditions and age. */
interface MeasureContext {
  conditions: ReadonlySet<string>;
  age: number;
}

/** Draws a value from a measure's distribution, shifted by the driving condition and by childhood. */
function draw(rng: Rng, measure: Measure, ctx: MeasureContext): number {
  let mean = measure.shift && ctx.conditions.has(measure.shift.condition) ? measure.shift.mean : measure.mean;
  if (measure.childDelta !== undefined && ctx.age < 18) mean += measure.childDelta * (1 - ctx.age / 18);
  const value = rng.normal(mean, measure.sd);
  return round(Math.min(measure.max, Math.max(measure.min, value)), measure.decimals);
}

function category(code: 'vital-signs' | 'laboratory'): unknown[] {
  const display = code === 'vital-signs' ? 'Vital Signs' : 'Laboratory';
  return [{ coding: [{ system: SYSTEMS.obsCategory, code, display }] }];
}

function observation(visit: Visit, id: string, measure: Measure, extra: Record<string, unknown>): FhirResource {
  return {
    resourceType: 'Observation',
    id,
    meta: synthMeta(),
    status: 'final',
    category: category(LABS.includes(measure) ? 'laboratory' : 'vital-signs'),
    code: concept(SYSTEMS.loinc, measure),
    subject: { reference: visit.patientRef },
    encounter: ref(visit.encounter),
    effectiveDateTime: visit.start,
    ...extra,
  };
}

function bloodPressure(rng: Rng, visit: Visit, id: string, ctx: MeasureContext): FhirResource {
  const part = (m: Measure): unknown => ({
    code: concept(SYSTEMS.loinc, m),
    valueQuantity: quantity(draw(rng, m, ctx), m.unit),
  });
  const panel = { ...VITALS.systolic, ...BP_PANEL };
  return observation(visit, id, panel, { component: [part(VITALS.systolic), part(VITALS.diastolic)] });
}

/** Body size at the visit's date: children grow towards their adult height. */
function bodySize(rng: Rng, profile: PatientProfile, atMs: number): { heightCm: number; weightKg: number } {
  const age = ageInYears(profile.birthMs, atMs);
  const growth = age >= 18 ? 1 : 0.29 + 0.71 * Math.sqrt(Math.max(0, age) / 18);
  const heightCm = round(profile.adultHeightCm * growth, 1);
  const bmi = age >= 18 ? profile.bmi : 15.5 + age * 0.2;
  const weightKg = round(bmi * (heightCm / 100) ** 2 * rng.normal(1, 0.02), 1);
  return { heightCm, weightKg };
}

/**
 * Observations for one visit: blood pressure, heart rate and weight always
 * (they are what a clinic records first), then `count - 3` more drawn from the
 * remaining vital signs and the lab panel.
 */
export function buildObservations(
  rng: Rng,
  visit: Visit,
  profile: PatientProfile,
  conditions: ReadonlySet<string>,
  count: number,
): FhirResource[] {
  const id = (n: number): string => `${visit.encounter.id}-obs${n}`;
  const size = bodySize(rng, profile, visit.startMs);
  const ctx: MeasureContext = { conditions, age: ageInYears(profile.birthMs, visit.startMs) };
  const valued = (m: Measure, value: number): Record<string, unknown> => ({ valueQuantity: quantity(value, m.unit) });
  const out = [
    bloodPressure(rng, visit, id(0), ctx),
    observation(visit, id(1), VITALS.heartRate, valued(VITALS.heartRate, draw(rng, VITALS.heartRate, ctx))),
    observation(visit, id(2), VITALS.weight, valued(VITALS.weight, size.weightKg)),
  ];
  const bmi = round(size.weightKg / (size.heightCm / 100) ** 2, 1);
  const pool: Measure[] = [VITALS.height, VITALS.bmi, VITALS.temperature, VITALS.respiratoryRate, VITALS.oxygenSaturation, ...LABS];
  for (const m of rng.sample(pool, count - out.length)) {
    let value: number;
    if (m === VITALS.height) value = size.heightCm;
    else if (m === VITALS.bmi) value = bmi;
    else value = draw(rng, m, ctx);
    out.push(observation(visit, id(out.length), m, valued(m, value)));
  }
  return out;
}
