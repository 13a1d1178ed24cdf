import { HavenError } from '../kernel/index.js';
import { toDate } from './dates.js';

/** Options shared by every patient of one synthesis run. */
export interface PatientBundleOptions {
  /** Seed of the run; part of every id, so two runs with different seeds never collide. */
  seed: number;
  /** All dates fall in the ten years before this day (YYYY-MM-DD). Default '2026-01-01'. */
  referenceDate?: string;
  /** Approximate average number of resources per patient. Default 50. */
  resourcesPerPatient?: number;
}

/** Options after validation, with the reference date as epoch milliseconds. */
export interface ResolvedOptions {
  seed: number;
  referenceMs: number;
  resourcesPerPatient: number;
}

export const DEFAULT_REFERENCE_DATE = '2026-01-01';
export const DEFAULT_RESOURCES_PER_PATIENT = 50;
const MAX_SEED = 0xffffffff;

function bad(message: string, expression: string): HavenError {
  return new HavenError('incorrect', 'SYNTH_BAD_OPTION', message, { expression: [expression] });
}

export function resolveOptions(options: PatientBundleOptions): ResolvedOptions {
  const { seed } = options;
  // Seeds are unsigned 32-bit integers: they appear in ids and feed the PRNG directly.
  if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) throw bad('seed must be an integer in 0..4294967295', 'seed');
  const date = options.referenceDate ?? DEFAULT_REFERENCE_DATE;
  const referenceMs = /^\d{4}-\d{2}-\d{2}$/.test(date) ? Date.parse(`${date}T00:00:00Z`) : Number.NaN;
  // The round trip rejects dates that parse but roll over, such as 2021-02-30.
  if (Number.isNaN(referenceMs) || toDate(referenceMs) !== date) throw bad('referenceDate must be a date YYYY-MM-DD', 'referenceDate');
  const resourcesPerPatient = options.resourcesPerPatient ?? DEFAULT_RESOURCES_PER_PATIENT;
  if (!Number.isFinite(resourcesPerPatient) || resourcesPerPatient < 5 || resourcesPerPatient > 5000) {
    throw bad('resourcesPerPatient must be between 5 and 5000', 'resourcesPerPatient');
  }
  return { seed, referenceMs, resourcesPerPatient };
}
