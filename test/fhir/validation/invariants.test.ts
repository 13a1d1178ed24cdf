import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createValidator } from '../../../src/fhir/validation/index.js';

const validator = createValidator();
const keys = (r: unknown): Array<string | undefined> => validator.validate(r).map((i) => i.details);

describe('validation: invariants', () => {
  it('evaluates resource invariants with FHIRPath (pat-1)', () => {
    const issues = validator.validate({ resourceType: 'Patient', contact: [{ gender: 'male' }] });
    assert.deepEqual(issues.map((i) => [i.code, i.details, i.expression?.[0]]), [['invariant', 'pat-1', 'Patient.contact[0]']]);
  });

  it('evaluates datatype invariants (per-1) and resource-level ones using %resource (obs-7)', () => {
    assert.deepEqual(keys({ resourceType: 'Patient', name: [{ period: { start: '2020-02-01', end: '2020-01-01' } }] }), ['per-1']);
    const coding = [{ system: 'http://loinc.org', code: '1-1' }];
    const obs = { resourceType: 'Observation', status: 'final', code: { coding }, valueString: 'x', component: [{ code: { coding } }] };
    assert.deepEqual(keys(obs), ['obs-7']);
  });

  it('treats an empty result as satisfied (bdl-8 without fullUrl)', () => {
    assert.deepEqual(keys({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: { resourceType: 'Basic', code: { text: 'x' } } }] }), []);
    assert.deepEqual(keys({ resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'http://x/Basic/1/_history/1', resource: { resourceType: 'Basic', code: { text: 'x' } } }] }), ['bdl-8']);
  });

  it('implements ext-1 natively', () => {
    const both = { url: 'http://x', valueString: 'x', extension: [{ url: 'a', valueString: 'b' }] };
    assert.deepEqual(keys({ resourceType: 'Patient', extension: [both] }), ['ext-1']);
    assert.deepEqual(keys({ resourceType: 'Patient', extension: [{ url: 'http://x' }] }), ['ext-1']);
  });

  it('implements the contained-resource rules dom-2..dom-5 natively', () => {
    const org = { resourceType: 'Organization', id: 'o', name: 'n' };
    assert.deepEqual(keys({ resourceType: 'Patient', contained: [org] }), ['dom-3']);
    const ref = { managingOrganization: { reference: '#o' } };
    assert.deepEqual(keys({ resourceType: 'Patient', contained: [{ ...org, meta: { versionId: '1' } }], ...ref }), ['dom-4']);
    assert.deepEqual(keys({ resourceType: 'Patient', contained: [{ ...org, meta: { security: [{ code: 'R' }] } }], ...ref }), ['dom-5']);
    const nested = { ...org, contained: [{ resourceType: 'Organization', id: 'p', name: 'n' }] };
    assert.ok(keys({ resourceType: 'Patient', contained: [nested], ...ref }).includes('dom-2'));
    // A contained resource may instead refer to its container with '#'.
    const back = { resourceType: 'Patient', contained: [{ resourceType: 'Provenance', id: 'p', target: [{ reference: '#' }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { display: 'x' } }] }] };
    assert.deepEqual(keys(back), []);
  });

  it('uses the corrected que-7 expression (answer is boolean)', () => {
    const q = (answer: Record<string, unknown>): unknown => ({
      resourceType: 'Questionnaire',
      status: 'draft',
      item: [{ linkId: '1', type: 'string', enableWhen: [{ question: '0', operator: 'exists', ...answer }] }],
    });
    assert.deepEqual(keys(q({ answerBoolean: true })), []);
    assert.deepEqual(keys(q({ answerString: 'x' })), ['que-7']);
  });

  it('answers an invariant fhirpath.js cannot evaluate on this data with a warning, and keeps checking it for the next resource', () => {
    const ucum = (value: number | undefined) => ({ ...(value === undefined ? {} : { value }), unit: 'mg', system: 'http://unitsofmeasure.org', code: 'mg' });
    const goal = (low: number | undefined, high: number | undefined) => ({
      resourceType: 'Goal',
      lifecycleStatus: 'active',
      description: { text: 'x' },
      subject: { reference: 'Patient/1' },
      target: [{ measure: { text: 'm' }, detailRange: { low: ucum(low), high: ucum(high) } }],
    });
    // rng-2 compares low and high; fhirpath.js throws (not an Error) on a Quantity with a unit but no value.
    const fresh = createValidator();
    const issues = fresh.validate(goal(1, undefined));
    assert.deepEqual(issues.map((i) => [i.severity, i.code, i.details]), [['warning', 'processing', 'rng-2']]);
    assert.match(issues[0]!.diagnostics ?? '', /could not be evaluated/);
    // The rule still applies afterwards: one such resource must not exempt every later one.
    assert.deepEqual(fresh.validate(goal(5, 2)).map((i) => i.details), ['rng-2']);
    assert.ok(!fresh.skippedInvariants().some((s) => s.key === 'rng-2'));
  });

  it('lists invariants it skips, with reasons', () => {
    const team = { resourceType: 'CareTeam', participant: [{ member: { reference: 'Practitioner/1' }, onBehalfOf: { reference: 'Organization/1' } }] };
    assert.deepEqual(keys(team), []);
    const skipped = validator.skippedInvariants();
    assert.ok(skipped.some((s) => s.key === 'txt-1' && /htmlChecks/.test(s.reason)), JSON.stringify(skipped));
    assert.ok(skipped.some((s) => s.key === 'ctm-1' && /resolve/.test(s.reason)), JSON.stringify(skipped));
  });
});
