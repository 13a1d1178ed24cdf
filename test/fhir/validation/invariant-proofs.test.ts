import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fhirpath from 'fhirpath';
import r4Model from 'fhirpath/fhir-context/r4/index.js';
import { readCoreResources } from '../../../src/fhir/index.js';
import { INVARIANT_PROOFS, proofFor } from '../../../src/fhir/validation/invariant-proofs.js';
import { createValidator } from '../../../src/fhir/validation/index.js';
import { createInvariantEngine } from '../../../src/fhir/validation/invariants.js';
import type { ElementModel } from '../../../src/fhir/validation/model.js';
import type { Issue } from '../../../src/kernel/errors.js';

type Node = Record<string, unknown>;

/** Every (path, key, expression) of the core package's constraints. */
function coreConstraints(): { path: string; key: string; expression: string }[] {
  const out: { path: string; key: string; expression: string }[] = [];
  for (const sd of readCoreResources<{ snapshot?: { element?: { path: string; constraint?: { key: string; expression?: string }[] }[] } }>('StructureDefinition')) {
    for (const e of sd.snapshot?.element ?? []) for (const c of e.constraint ?? []) if (c.expression) out.push({ path: e.path, key: c.key, expression: c.expression });
  }
  return out;
}

/** What FHIRPath says: true when no `false` comes out (the validator's reading). */
function fhirpathHolds(path: string, expression: string, node: Node): boolean {
  const result = fhirpath.evaluate(node, { base: path, expression }, { resource: node, rootResource: node, ucum: 'http://unitsofmeasure.org' }, r4Model) as unknown[];
  return !result.includes(false);
}

const DATES = ['2020', '2021', '2020-01', '2020-02', '2020-01-01', '2020-01-02', '2020-02-30', '2020-02-29', '2019-02-29', '2020-13-01',
  '2020-01-01T10:00:00Z', '2020-01-01T10:00:00+01:00', '2020-01-01T09:30:00Z', '2020-01-01T10:00:00.5Z', '2020-01-01T10:00:00.25Z',
  '2020-01-01T10:00:00.250Z', '2020-01-01T10:00:00-05:00', '2019-12-31T23:00:00-11:00', '2020-01-01T10:00:00', '2020-01-01T24:00:00Z',
  '', ' 2020', 'x'];
const CODING = (system: string, code: string | undefined) => ({ coding: [{ system, ...(code === undefined ? {} : { code }) }] });
const CLIN = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const CVER = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
const AVER = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';

/** Nodes for each proof: ones it should prove, ones it must leave to FHIRPath, malformed ones. */
function casesFor(key: string): Node[] {
  const ext = { extension: [{ url: 'http://x', valueString: 'y' }] };
  switch (key) {
    case 'per-1': {
      const out: Node[] = [{}, { start: '2020' }, { end: '2020' }, { _start: ext, end: '2020' }, { start: 5, end: '2020' }];
      for (const s of DATES) for (const e of DATES) out.push({ start: s, end: e });
      return out;
    }
    case 'cpt-2':
    case 'qty-3': {
      const f = key === 'cpt-2' ? 'value' : 'code';
      return [{}, { [f]: 'a' }, { [f]: 'a', system: 'http://s' }, { [f]: 'a', system: '' }, { [`_${f}`]: ext }, { [`_${f}`]: ext, system: 'http://s' }, { system: 'http://s' }, { [f]: 'a', _system: ext }];
    }
    case 'obs-6':
    case 'obs-7': {
      const code = { coding: [{ system: 'http://loinc.org', code: '1-1' }] };
      const values: Node[] = [{}, { valueString: 'x' }, { _valueString: ext }, { valueQuantity: { value: 1 } }, { valueset: 'x' }, { value: 'x' }];
      const others: Node[] = [{}, { dataAbsentReason: { text: 'x' } }, { component: [{ code }] }, { component: [{ code: { text: 'other' } }] }];
      return values.flatMap((v) => others.map((o) => ({ resourceType: 'Observation', status: 'final', code, ...v, ...o })));
    }
    case 'con-4':
    case 'con-5': {
      const abate: Node[] = [{}, { abatementDateTime: '2020' }, { _abatementDateTime: ext }, { abatementString: 'x' }];
      const clin: Node[] = [{}, { clinicalStatus: CODING(CLIN, 'resolved') }, { clinicalStatus: CODING(CLIN, 'active') }, { clinicalStatus: CODING('http://other', 'resolved') }, { clinicalStatus: { text: 'x' } }, { clinicalStatus: { coding: ['x'] } }];
      const ver: Node[] = [{}, { verificationStatus: CODING(CVER, 'entered-in-error') }, { verificationStatus: CODING(CVER, 'confirmed') }, { verificationStatus: CODING(CVER, undefined) }];
      return abate.flatMap((a) => clin.flatMap((c) => ver.map((v) => ({ resourceType: 'Condition', subject: { reference: 'Patient/1' }, ...a, ...c, ...v }))));
    }
    case 'ait-1':
    case 'ait-2': {
      const clin: Node[] = [{}, { clinicalStatus: { text: 'x' } }, { clinicalStatus: {} }, { clinicalStatus: CODING('http://s', 'active') }];
      const ver: Node[] = [{}, { verificationStatus: CODING(AVER, 'entered-in-error') }, { verificationStatus: CODING(AVER, 'confirmed') }, { verificationStatus: { coding: [{ system: AVER, _code: ext }] } }];
      return clin.flatMap((c) => ver.map((v) => ({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/1' }, ...c, ...v })));
    }
    case 'obs-3':
      return [{}, { low: { value: 1 } }, { high: { value: 1 } }, { low: {} }, { text: 'x' }, { text: '' }, { _text: ext }, { high: {}, text: 'y' }];
    case 'sqty-1':
      return [{}, { value: 1 }, { comparator: '<' }, { _comparator: ext }];
    case 'prr-1':
      return [{}, { orderDetail: [{ text: 'x' }] }, { orderDetail: [{ text: 'x' }], code: { text: 'c' } }, { code: { text: 'c' } }, { orderDetail: [{ text: 'x' }], code: {} }].map((n) => ({ resourceType: 'ServiceRequest', ...n }));
    default:
      return [];
  }
}

describe('validation: native invariant proofs', () => {
  const core = coreConstraints();

  it('are each bound to an expression of the core package', () => {
    for (const [key, proof] of Object.entries(INVARIANT_PROOFS)) {
      const matching = core.filter((c) => c.key === key && c.expression === proof.expression);
      assert.ok(matching.length > 0, `${key}: no core constraint has this expression`);
      assert.ok(proofFor(key, proof.expression));
    }
    assert.equal(proofFor('per-1', 'start <= end'), undefined, 'another expression gets no proof');
  });

  it('never claim an invariant holds where FHIRPath finds it violated', () => {
    let proven = 0;
    let left = 0;
    for (const [key, proof] of Object.entries(INVARIANT_PROOFS)) {
      const path = core.find((c) => c.key === key && c.expression === proof.expression)!.path;
      const cases = casesFor(key);
      assert.ok(cases.length > 0, `${key}: no test cases`);
      for (const node of cases) {
        if (proof.holds(node)) {
          proven++;
          assert.ok(fhirpathHolds(path, proof.expression, node), `${key} proved to hold on ${JSON.stringify(node)}, FHIRPath disagrees`);
        } else left++;
      }
    }
    // Both directions are exercised: most cases proven, the rest (violations, odd shapes) left to FHIRPath.
    assert.ok(proven > 200 && left > 200, `proven ${proven}, left ${left}`);
  });

  it('spare FHIRPath where they hold, and only there', () => {
    const engine = createInvariantEngine();
    const per1 = INVARIANT_PROOFS['per-1']!;
    const el = { path: 'Period', constraints: [{ key: 'per-1', human: 'start <= end', expression: per1.expression }] } as unknown as ElementModel;
    const issues: Issue[] = [];
    const check = (node: Node) => engine.check(el, node, { resource: node, rootResource: node }, 'Period', issues);
    check({ start: '2020-01-01', end: '2020-01-02' });
    check({ start: '2020-01-01T10:00:00Z', end: '2020-01-01T11:00:00+01:00' });
    assert.equal(engine.fhirpathRuns(), 0, 'both proved natively');
    check({ start: '2020-01-02', end: '2020-01-01' });
    check({ start: '2020-01', end: '2020-01-15' });
    assert.equal(engine.fhirpathRuns(), 2, 'a violation and mixed precisions go to FHIRPath');
    assert.deepEqual(issues.map((i) => i.details), ['per-1']);
  });

  it('leave every violation to FHIRPath, which still reports it', () => {
    const validator = createValidator();
    const keys = (r: unknown) => validator.validate(r).map((i) => i.details);
    assert.deepEqual(keys({ resourceType: 'Patient', name: [{ period: { start: '2020-01-01T10:00:00Z', end: '2020-01-01T09:30:00Z' } }] }), ['per-1']);
    assert.deepEqual(keys({ resourceType: 'Patient', name: [{ period: { start: '2020-01-01T10:00:00Z', end: '2020-01-01T10:00:00Z' } }] }), []);
    assert.deepEqual(keys({ resourceType: 'Patient', telecom: [{ value: '555' }] }), ['cpt-2']);
    assert.deepEqual(keys({ resourceType: 'Patient', telecom: [{ value: '555', system: 'phone' }] }), []);
  });
});
