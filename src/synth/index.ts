import { HavenError } from '../kernel/index.js';
import type { Bundle } from './fhir-shapes.js';
import { resolveOptions } from './options.js';
import type { PatientBundleOptions, ResolvedOptions } from './options.js';
import { buildPatientBundle } from './patient-bundle.js';
import { createRng, mixSeed } from './random.js';

export type { Bundle, BundleEntry, FhirResource } from './fhir-shapes.js';
export type { PatientBundleOptions } from './options.js';
export { DEFAULT_REFERENCE_DATE, DEFAULT_RESOURCES_PER_PATIENT } from './options.js';
export { generatePatientBundle, synthPatientId } from './patient-bundle.js';
export { createRng, mixSeed } from './random.js';
export type { Rng } from './random.js';

export interface SynthesizeOptions extends Omit<PatientBundleOptions, 'seed'> {
  patients: number;
  /** Default 0. */
  seed?: number;
  /** First patient index (default 0): lets a run resume, or be split across workers. */
  startIndex?: number;
}

/**
 * Yields one transaction Bundle per patient, lazily, so a million resources
 * never sit in memory at once. Each patient gets its own PRNG stream derived
 * from (seed, index): patient i is identical whatever startIndex or batch
 * split produced it.
 */
export function synthesize(options: SynthesizeOptions): Generator<Bundle> {
  // Validated here, not inside the generator body, so bad options fail at the call, not at the first next().
  const resolved = resolveOptions({ ...options, seed: options.seed ?? 0 });
  const start = options.startIndex ?? 0;
  for (const [name, value] of [['patients', options.patients], ['startIndex', start]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new HavenError('incorrect', 'SYNTH_BAD_OPTION', `${name} must be a non-negative integer`, { expression: [name] });
    }
  }
  return patientBundles(resolved, start, start + options.patients);
}

function* patientBundles(resolved: ResolvedOptions, start: number, end: number): Generator<Bundle> {
  for (let index = start; index < end; index++) {
    // High and low 32 bits both feed the stream, so indexes beyond 2^32 do not repeat patients.
    const rng = createRng(mixSeed(resolved.seed, index >>> 0, Math.floor(index / 2 ** 32)));
    yield buildPatientBundle(rng, index, resolved);
  }
}

export interface SynthStats {
  patients: number;
  resources: number;
  byType: Record<string, number>;
}

/** Adds one bundle's counts to `into` (or to fresh totals) and returns the totals. */
export function synthStats(bundle: Bundle, into: SynthStats = { patients: 0, resources: 0, byType: {} }): SynthStats {
  into.patients += 1;
  into.resources += bundle.entry.length;
  for (const { resource } of bundle.entry) into.byType[resource.resourceType] = (into.byType[resource.resourceType] ?? 0) + 1;
  return into;
}
