import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { synthesize } from '../../src/synth/index.js';
import type { Bundle, FhirResource } from '../../src/synth/index.js';
import { checkR4Structure } from './r4-structure.js';

const bundles: Bundle[] = [...synthesize({ patients: 60, seed: 2026 })];
const resources: FhirResource[] = bundles.flatMap((b) => b.entry.map((e) => e.resource));
const ofType = (type: string): FhirResource[] => resources.filter((r) => r.resourceType === type);
type Json = Record<string, unknown>;

describe('synth output against the R4 StructureDefinitions', () => {
  it('the checker itself catches wrong names, cardinality, missing elements and bad codes', () => {
    const problems = checkR4Structure({
      resourceType: 'Observation',
      id: 'x',
      code: { coding: { system: 'http://loinc.org', code: '1-8' } },
      valueQuantity: { value: '12' },
      effectiveDate: '2020-01-01',
      status: 'done',
    });
    const text = problems.join('\n');
    assert.match(text, /Observation\.code\.coding: cardinality/);
    assert.match(text, /valueQuantity\.value: not a valid decimal/);
    assert.match(text, /effectiveDate: unknown element/);
    assert.match(text, /code done not in/);
    assert.deepEqual(checkR4Structure({ resourceType: 'Encounter', id: 'e' }).sort(), [
      'Encounter.class: required (min 1)',
      'Encounter.status: required (min 1)',
    ]);
  });

  it('every generated resource and bundle conforms structurally', () => {
    for (const resource of resources) assert.deepEqual(checkR4Structure(resource), [], `${resource.resourceType}/${resource.id}`);
    for (const bundle of bundles.slice(0, 5)) {
      const shell = { resourceType: 'Bundle', type: bundle.type, entry: bundle.entry.map((e) => ({ request: e.request })) };
      assert.deepEqual(checkR4Structure(shell), []);
    }
  });

  it('uses the required status codes', () => {
    for (const o of ofType('Observation')) assert.equal(o['status'], 'final');
    for (const e of ofType('Encounter')) assert.equal(e['status'], 'finished');
    for (const m of ofType('MedicationRequest')) assert.equal(m['intent'], 'order');
    for (const i of ofType('Immunization')) assert.equal(i['status'], 'completed');
    for (const p of ofType('Patient')) assert.ok(['male', 'female', 'other', 'unknown'].includes(p['gender'] as string));
  });

  it('keeps Condition abatement consistent with clinical status (con-4)', () => {
    for (const c of ofType('Condition')) {
      const status = ((c['clinicalStatus'] as Json)['coding'] as Json[])[0]?.['code'];
      if ('abatementDateTime' in c) assert.ok(['inactive', 'resolved', 'remission'].includes(status as string));
    }
  });

  it('records vital signs with UCUM quantities and blood pressure as components', () => {
    const codes = new Set<string>();
    for (const o of ofType('Observation')) {
      const code = ((o['code'] as Json)['coding'] as Json[])[0]?.['code'] as string;
      codes.add(code);
      const quantities = code === '85354-9' ? ((o['component'] as Json[]).map((c) => c['valueQuantity']) as Json[]) : [o['valueQuantity'] as Json];
      assert.ok(!(code === '85354-9' && 'valueQuantity' in o), 'BP panel carries no top-level value');
      for (const q of quantities) {
        assert.equal(q['system'], 'http://unitsofmeasure.org');
        assert.equal(q['code'], q['unit']);
        assert.equal(typeof q['value'], 'number');
      }
    }
    for (const expected of ['85354-9', '8867-4', '29463-7', '8302-2', '39156-5', '2339-0', '4548-4']) assert.ok(codes.has(expected), expected);
  });
});
