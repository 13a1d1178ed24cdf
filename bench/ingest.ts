/**
 * Ingest phase: the synthetic patients go in as transaction Bundles (PUT with
 * deterministic ids), all search indexes on. The first patients are timed at
 * each concurrency tried; the rest load at the best one so the store reaches
 * the size the search phase needs.
 */
import { synthesize, type Bundle } from '../src/synth/index.js';
import type { HttpClient } from './http-load.js';
import { createSamples, round, type LatencySummary } from './stats.js';

/** Values drawn from the generated data, for reads and searches. */
export interface DrawnValues {
  patientIds: string[];
  observationIds: string[];
  observationSearches: { patient: string; code: string }[];
  patientSearches: { family: string; birthDate: string }[];
  encounterDates: string[];
}

export interface IngestSlice {
  concurrency: number;
  patients: number;
  resources: number;
  seconds: number;
  resourcesPerSecond: number;
  bundleLatency: LatencySummary;
  errors: number;
  firstError?: string;
  /** Share of one core the harness spent generating and serialising bundles. */
  clientCpuCores: number;
}

type Resource = Record<string, unknown> & { resourceType: string; id: string };

export function drawFrom(bundle: Bundle, into: DrawnValues): void {
  const resources = bundle.entry.map((e) => e.resource as unknown as Resource);
  const patient = resources.find((r) => r.resourceType === 'Patient');
  if (!patient) return;
  into.patientIds.push(patient.id);
  const name = (patient.name as { family?: string }[] | undefined)?.[0];
  if (name?.family && typeof patient.birthDate === 'string') into.patientSearches.push({ family: name.family, birthDate: patient.birthDate });
  const observations = resources.filter((r) => r.resourceType === 'Observation');
  const obs = observations[Math.floor(Math.random() * observations.length)];
  if (obs) {
    into.observationIds.push(obs.id);
    const coding = (obs.code as { coding?: { system?: string; code?: string }[] } | undefined)?.coding?.find((c) => c.system === 'http://loinc.org');
    if (coding?.code) into.observationSearches.push({ patient: patient.id, code: coding.code });
  }
  const encounters = resources.filter((r) => r.resourceType === 'Encounter');
  const start = (encounters[Math.floor(Math.random() * encounters.length)]?.period as { start?: string } | undefined)?.start;
  if (start) into.encounterDates.push(start.slice(0, 10));
}

/** The values a load of the same patients and seed would have drawn, for --reuse (no ingest). */
export function redraw(seed: number, patients: number): DrawnValues {
  const drawn = emptyDrawn();
  for (const bundle of synthesize({ patients, seed })) drawFrom(bundle, drawn);
  return drawn;
}

export function emptyDrawn(): DrawnValues {
  return { patientIds: [], observationIds: [], observationSearches: [], patientSearches: [], encounterDates: [] };
}

interface SliceSpec {
  client: HttpClient;
  seed: number;
  startIndex: number;
  patients: number;
  concurrency: number;
  drawn: DrawnValues;
}

/** Loads patients [startIndex, startIndex + patients) with `concurrency` transactions in flight. */
export async function ingestSlice(spec: SliceSpec): Promise<IngestSlice> {
  const bundles = synthesize({ patients: spec.patients, seed: spec.seed, startIndex: spec.startIndex });
  const samples = createSamples();
  let resources = 0;
  let errors = 0;
  let firstError: string | undefined;
  let clientMicros = 0;
  const started = performance.now();
  async function worker(): Promise<void> {
    for (;;) {
      const cpu = process.cpuUsage();
      const next = bundles.next();
      if (next.done) return;
      drawFrom(next.value, spec.drawn);
      const body = JSON.stringify(next.value);
      const used = process.cpuUsage(cpu);
      clientMicros += used.user + used.system;
      const t = performance.now();
      const res = await spec.client.request('POST', '/fhir', body, { prefer: 'return=minimal' });
      samples.add(performance.now() - t);
      if (res.status === 200) resources += next.value.entry.length;
      else {
        errors++;
        firstError ??= `${res.status}: ${res.body.slice(0, 300)}`;
      }
    }
  }
  await Promise.all(Array.from({ length: spec.concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  return {
    concurrency: spec.concurrency,
    patients: spec.patients,
    resources,
    seconds: round(seconds),
    resourcesPerSecond: round(resources / seconds, 1),
    bundleLatency: samples.summary(),
    errors,
    ...(firstError ? { firstError } : {}),
    clientCpuCores: round(clientMicros / 1e6 / seconds),
  };
}

const BULK_CHUNK = 2_000;

export interface IngestResult {
  measured: IngestSlice[];
  best: IngestSlice;
  /** The rest, loaded at the best concurrency in chunks (their rates show how ingest holds up as the store grows). */
  bulk: IngestSlice[];
  totalPatients: number;
  totalResources: number;
  totalSeconds: number;
  errors: number;
}

export async function runIngest(
  client: HttpClient,
  opts: { seed: number; patients: number; measurePatients: number; concurrencies: number[]; log: (m: string) => void },
  drawn: DrawnValues,
): Promise<IngestResult> {
  const measured: IngestSlice[] = [];
  const per = Math.max(1, Math.floor(opts.measurePatients / opts.concurrencies.length));
  let next = 0;
  const started = performance.now();
  for (const concurrency of opts.concurrencies) {
    const slice = await ingestSlice({ client, seed: opts.seed, startIndex: next, patients: per, concurrency, drawn });
    next += per;
    measured.push(slice);
    opts.log(`ingest c${concurrency}: ${slice.resourcesPerSecond} res/s (${slice.resources} resources, ${slice.errors} errors)`);
  }
  const best = measured.reduce((a, b) => (b.resourcesPerSecond > a.resourcesPerSecond ? b : a));
  const bulk: IngestSlice[] = [];
  while (next < opts.patients) {
    const patients = Math.min(BULK_CHUNK, opts.patients - next);
    const slice = await ingestSlice({ client, seed: opts.seed, startIndex: next, patients, concurrency: best.concurrency, drawn });
    next += patients;
    bulk.push(slice);
    opts.log(`bulk c${best.concurrency}: ${next}/${opts.patients} patients, ${slice.resourcesPerSecond} res/s, ${slice.errors} errors`);
  }
  const all = [...measured, ...bulk];
  return {
    measured,
    best,
    bulk,
    totalPatients: all.reduce((a, s) => a + s.patients, 0),
    totalResources: all.reduce((a, s) => a + s.resources, 0),
    totalSeconds: round((performance.now() - started) / 1000),
    errors: all.reduce((a, s) => a + s.errors, 0),
  };
}
