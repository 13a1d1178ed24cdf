import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { synthesize } from '../../src/synth/index.js';
import type { FhirResource } from '../../src/synth/index.js';

type Json = Record<string, unknown>;
const code = (r: FhirResource, key = 'code'): string => ((r[key] as Json)['coding'] as Json[])[0]?.['code'] as string;
const value = (r: FhirResource): number => (r['valueQuantity'] as Json)['value'] as number;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

const patients = [...synthesize({ patients: 1500, seed: 77 })].map((b) => b.entry.map((e) => e.resource));

describe('synth clinical values', () => {
  it('raises glucose and HbA1c after a type 2 diabetes diagnosis', () => {
    const after: Record<string, number[]> = { '2339-0': [], '4548-4': [] };
    const without: Record<string, number[]> = { '2339-0': [], '4548-4': [] };
    for (const resources of patients) {
      const dm = resources.find((r) => r.resourceType === 'Condition' && code(r) === '44054006');
      for (const r of resources) {
        if (r.resourceType !== 'Observation' || !(code(r) in after)) continue;
        if (!dm) without[code(r)]?.push(value(r));
        else if (String(r['effectiveDateTime']) >= String(dm['onsetDateTime'])) after[code(r)]?.push(value(r));
      }
    }
    assert.ok(mean(after['2339-0'] ?? []) > mean(without['2339-0'] ?? []) + 40);
    assert.ok(mean(after['4548-4'] ?? []) > mean(without['4548-4'] ?? []) + 1.5);
  });

  it('records BMI consistent with the weight and height of the same visit', () => {
    let checked = 0;
    for (const resources of patients.slice(0, 300)) {
      const byEncounter = new Map<string, Map<string, number>>();
      for (const r of resources) {
        if (r.resourceType !== 'Observation' || !('valueQuantity' in r)) continue;
        const enc = (r['encounter'] as Json)['reference'] as string;
        byEncounter.set(enc, (byEncounter.get(enc) ?? new Map<string, number>()).set(code(r), value(r)));
      }
      for (const v of byEncounter.values()) {
        const [w, h, bmi] = [v.get('29463-7'), v.get('8302-2'), v.get('39156-5')];
        if (w === undefined || h === undefined || bmi === undefined) continue;
        assert.ok(Math.abs(bmi - w / (h / 100) ** 2) < 0.2, `bmi ${bmi} for ${w} kg, ${h} cm`);
        checked++;
      }
    }
    assert.ok(checked > 20);
  });

  it('gives infants faster heart rates than adults and keeps values in plausible ranges', () => {
    const infant: number[] = [];
    const adult: number[] = [];
    for (const resources of patients) {
      const birth = Date.parse(String(resources[0]?.['birthDate']));
      for (const r of resources) {
        if (r.resourceType !== 'Observation' || code(r) !== '8867-4') continue;
        const age = (Date.parse(String(r['effectiveDateTime'])) - birth) / (365.25 * 86_400_000);
        if (age < 2) infant.push(value(r));
        else if (age >= 18) adult.push(value(r));
        assert.ok(value(r) >= 45 && value(r) <= 180);
      }
    }
    assert.ok(infant.length > 5 && mean(infant) > mean(adult) + 25, `infant ${mean(infant)}, adult ${mean(adult)}`);
  });
});
