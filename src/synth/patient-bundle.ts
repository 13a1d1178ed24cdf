import { HavenError } from '../kernel/index.js';
import { DAY_MS, MINUTE_MS, YEAR_MS } from './dates.js';
import { buildEncounter, buildObservations } from './encounter-resources.js';
import type { Visit } from './encounter-resources.js';
import type { Bundle, FhirResource } from './fhir-shapes.js';
import { buildConditions, buildImmunizations, buildMedicationRequests, buildProcedures } from './history-resources.js';
import type { Diagnosis } from './history-resources.js';
import { resolveOptions } from './options.js';
import type { PatientBundleOptions, ResolvedOptions } from './options.js';
import { buildPatient } from './patient-resource.js';
import type { PatientProfile } from './patient-resource.js';
import type { Rng } from './random.js';

/** Resources per encounter on average: the encounter plus 3–8 observations. */
const PER_ENCOUNTER = 1 + 5.5;
/** Patient, conditions, medication requests, procedures, immunizations on average. */
const PER_PATIENT_FIXED = 7;
const HISTORY_YEARS = 10;

/** Patient ids are `synth-<seed>-<index>`; every other id extends the patient's. */
export function synthPatientId(seed: number, index: number): string {
  return `synth-${seed}-${index}`;
}

function encounterCount(rng: Rng, resourcesPerPatient: number): number {
  const mean = Math.max(1, (resourcesPerPatient - PER_PATIENT_FIXED) / PER_ENCOUNTER);
  // ±40 % around the mean: 4–9 encounters at the default of 50 resources.
  return Math.max(1, Math.round(mean * (0.6 + 0.8 * rng.next())));
}

/** Visit start times, ascending, during office hours, in the window before the reference date. */
function visitTimes(rng: Rng, count: number, birthMs: number, referenceMs: number): number[] {
  const firstDay = Math.floor(Math.max(birthMs + DAY_MS, referenceMs - HISTORY_YEARS * YEAR_MS) / DAY_MS);
  const lastDay = Math.floor(referenceMs / DAY_MS) - 1;
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const day = rng.int(firstDay, Math.max(firstDay, lastDay));
    times.push(day * DAY_MS + (8 * 60 + rng.int(0, 9 * 60)) * MINUTE_MS);
  }
  return times.sort((a, b) => a - b);
}

/** Chronic conditions diagnosed at or before this visit: they shift its lab and blood pressure values. */
function activeAt(visit: Visit, diagnoses: readonly Diagnosis[]): Set<string> {
  const codes = new Set<string>();
  for (const d of diagnoses) if (d.def.chronic && d.visit.startMs <= visit.startMs) codes.add(d.def.code);
  return codes;
}

function clinicalResources(rng: Rng, profile: PatientProfile, patient: FhirResource, options: ResolvedOptions): FhirResource[] {
  const times = visitTimes(rng, encounterCount(rng, options.resourcesPerPatient), profile.birthMs, options.referenceMs);
  const visits = times.map((t, i) => buildEncounter(rng, patient, `${profile.id}-enc${i}`, t));
  const diagnoses = buildConditions(rng, profile, visits, options.referenceMs);
  const out: FhirResource[] = [];
  for (const visit of visits) {
    out.push(visit.encounter, ...buildObservations(rng, visit, profile, activeAt(visit, diagnoses), rng.int(3, 8)));
  }
  for (const d of diagnoses) out.push(d.condition);
  out.push(...buildMedicationRequests(rng, diagnoses, profile.id));
  out.push(...buildProcedures(rng, profile, visits, profile.id));
  out.push(...buildImmunizations(rng, profile, visits, profile.id));
  return out;
}

/** Same as generatePatientBundle, with options already validated (the hot path of `synthesize`). */
export function buildPatientBundle(rng: Rng, index: number, options: ResolvedOptions): Bundle {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new HavenError('incorrect', 'SYNTH_BAD_OPTION', 'patient index must be a non-negative integer', { expression: ['index'] });
  }
  const id = synthPatientId(options.seed, index);
  const { profile, patient } = buildPatient(rng, id, options.seed, index, options.referenceMs);
  const resources = [patient, ...clinicalResources(rng, profile, patient, options)];
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    // PUT with deterministic ids (not POST with urn:uuid fullUrls): the server keeps our ids,
    // references are plain `Type/id`, and re-running the same import updates the same
    // resources instead of creating duplicates — so an interrupted load can simply be restarted.
    entry: resources.map((resource) => ({
      resource,
      request: { method: 'PUT', url: `${resource.resourceType}/${resource.id}` },
    })),
  };
}

/**
 * One patient's record as a FHIR R4 transaction Bundle: Patient, Encounters
 * with Observations, Conditions, MedicationRequests, Procedures, Immunizations.
 * Output depends only on the generator's state, the index and the options.
 */
export function generatePatientBundle(rng: Rng, index: number, options: PatientBundleOptions): Bundle {
  return buildPatientBundle(rng, index, resolveOptions(options));
}
