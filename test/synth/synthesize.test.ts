import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FHIR_ID_PATTERN, isHavenError } from '../../src/kernel/index.js';
import { createRng, generatePatientBundle, synthStats, synthesize } from '../../src/synth/index.js';
import type { Bundle, SynthStats } from '../../src/synth/index.js';

const all = (patients: number, seed: number, extra: Record<string, unknown> = {}): Bundle[] => [
  ...synthesize({ patients, seed, ...extra }),
];

/** Every `reference` string anywhere in a value. */
function references(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) references(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else references(v, out);
    }
  }
  return out;
}

describe('synthesize', () => {
  it('gives identical output for the same seed and different output for another', () => {
    assert.deepEqual(all(20, 11), all(20, 11));
    assert.notDeepEqual(all(5, 11), all(5, 12));
    assert.equal(JSON.stringify(all(3, 11)), JSON.stringify(all(3, 11)));
  });

  it('produces the same patient whatever the start index', () => {
    const full = all(10, 3);
    const tail = all(4, 3, { startIndex: 6 });
    assert.deepEqual(tail, full.slice(6));
  });

  it('generatePatientBundle depends only on the rng state, index and options', () => {
    const a = generatePatientBundle(createRng(99), 5, { seed: 1 });
    const b = generatePatientBundle(createRng(99), 5, { seed: 1 });
    assert.deepEqual(a, b);
    assert.equal(a.entry[0]?.resource.id, 'synth-1-5');
  });

  it('resolves every reference inside the bundle and uses valid, unique ids', () => {
    for (const bundle of all(100, 5)) {
      assert.equal(bundle.type, 'transaction');
      const keys = new Set(bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
      assert.equal(keys.size, bundle.entry.length, 'ids are unique');
      for (const { resource, request } of bundle.entry) {
        assert.match(resource.id, FHIR_ID_PATTERN);
        assert.equal(request.method, 'PUT');
        assert.equal(request.url, `${resource.resourceType}/${resource.id}`);
        for (const r of references(resource)) assert.ok(keys.has(r), `dangling ${r}`);
      }
      const patient = bundle.entry[0]?.resource;
      assert.equal(patient?.resourceType, 'Patient');
      const subjects = bundle.entry.slice(1).map(({ resource }) => (resource['subject'] ?? resource['patient']) as { reference: string });
      for (const s of subjects) assert.equal(s.reference, `Patient/${patient?.id}`);
    }
  });

  it('averages about 50 resources per patient with every resource type present', () => {
    let stats: SynthStats | undefined;
    for (const bundle of synthesize({ patients: 500, seed: 2 })) stats = synthStats(bundle, stats);
    assert.ok(stats);
    assert.equal(stats.patients, 500);
    const perPatient = stats.resources / stats.patients;
    assert.ok(perPatient > 42 && perPatient < 58, `per patient ${perPatient}`);
    const types = ['Patient', 'Encounter', 'Observation', 'Condition', 'MedicationRequest', 'Procedure', 'Immunization'];
    for (const t of types) assert.ok((stats.byType[t] ?? 0) > 0, t);
    assert.equal(stats.byType['Patient'], 500);
    const obsPerEncounter = (stats.byType['Observation'] ?? 0) / (stats.byType['Encounter'] ?? 1);
    assert.ok(obsPerEncounter >= 3 && obsPerEncounter <= 8);
  });

  it('follows the resourcesPerPatient knob approximately', () => {
    for (const target of [20, 200]) {
      let stats: SynthStats | undefined;
      for (const b of synthesize({ patients: 200, seed: 9, resourcesPerPatient: target })) stats = synthStats(b, stats);
      const perPatient = (stats?.resources ?? 0) / 200;
      assert.ok(Math.abs(perPatient - target) / target < 0.2, `target ${target}, got ${perPatient}`);
    }
  });

  it('keeps every date within ten years before the reference date', () => {
    const ref = Date.parse('2020-06-01T00:00:00Z');
    const tenYears = 10 * 365.25 * 86_400_000;
    for (const bundle of all(50, 4, { referenceDate: '2020-06-01' })) {
      const birth = Date.parse(String(bundle.entry[0]?.resource['birthDate']));
      assert.ok(birth < ref);
      const json = JSON.stringify(bundle.entry.slice(1));
      for (const match of json.matchAll(/"(\d{4}-\d{2}-\d{2}T[\d:]+Z)"/g)) {
        const t = Date.parse(match[1] as string);
        assert.ok(t >= ref - tenYears - 86_400_000 && t >= birth, `too early ${match[1]}`);
        assert.ok(t < ref, `too late ${match[1]}`);
      }
    }
  });

  it('refuses bad options with a SYNTH_BAD_OPTION error', () => {
    const bad = [{ patients: -1, seed: 1 }, { patients: 1, seed: -3 }, { patients: 1, seed: 1.5 }, { patients: 1, referenceDate: '2020-13-45' }, { patients: 1, referenceDate: '2021-02-30' }, { patients: 1, resourcesPerPatient: 1 }];
    for (const options of bad) {
      assert.throws(() => synthesize(options), (e: unknown) => isHavenError(e) && e.code === 'SYNTH_BAD_OPTION');
    }
  });
});
