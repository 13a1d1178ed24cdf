import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Issue } from '../../../src/kernel/errors.js';
import { createValidator } from '../../../src/fhir/validation/index.js';

const validator = createValidator();

function only(issues: Issue[]): Issue {
  assert.equal(issues.length, 1, JSON.stringify(issues));
  return issues[0] as Issue;
}

describe('validation: structure', () => {
  it('accepts a small valid Patient', () => {
    assert.deepEqual(validator.validate({ resourceType: 'Patient', id: 'p1', gender: 'male', birthDate: '1970-01-01' }), []);
  });

  it('rejects non-objects, a missing and an unknown resourceType', () => {
    assert.equal(only(validator.validate([])).code, 'structure');
    assert.equal(only(validator.validate({ id: 'x' })).code, 'required');
    assert.deepEqual(only(validator.validate({ resourceType: 'Foo' })).expression, ['Foo']);
    assert.equal(only(validator.validate({ resourceType: 'DomainResource' })).code, 'structure');
  });

  it('reports unknown elements with their path', () => {
    const issue = only(validator.validate({ resourceType: 'Patient', foo: 1 }));
    assert.equal(issue.code, 'structure');
    assert.deepEqual(issue.expression, ['Patient.foo']);
    const nested = only(validator.validate({ resourceType: 'Patient', name: [{ family: 'x', bar: true }] }));
    assert.deepEqual(nested.expression, ['Patient.name[0].bar']);
  });

  it('checks JSON shape against max cardinality', () => {
    assert.match(only(validator.validate({ resourceType: 'Patient', name: { family: 'x' } })).diagnostics, /array/);
    assert.match(only(validator.validate({ resourceType: 'Patient', gender: ['male'] })).diagnostics, /must not be an array/);
    assert.match(only(validator.validate({ resourceType: 'Patient', name: [] })).diagnostics, /empty/);
    assert.equal(only(validator.validate({ resourceType: 'Patient', maritalStatus: 'M' })).code, 'structure');
  });

  it('accepts _element primitive extensions and checks their content', () => {
    const ext = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] };
    assert.deepEqual(validator.validate({ resourceType: 'Patient', birthDate: '1970', _birthDate: ext }), []);
    assert.deepEqual(validator.validate({ resourceType: 'Patient', _gender: ext }), []);
    assert.deepEqual(validator.validate({ resourceType: 'Patient', name: [{ given: ['a', null], _given: [null, ext] }] }), []);
    const unknown = validator.validate({ resourceType: 'Patient', _birthDate: { id: 'a', foo: 1 } });
    assert.deepEqual(unknown[0]?.expression, ['Patient.birthDate.foo']);
    assert.equal(only(validator.validate({ resourceType: 'Patient', name: [{ _family: ext }], _name: [{}] })).code, 'structure');
  });

  it('rejects empty objects (ele-1)', () => {
    assert.deepEqual(only(validator.validate({ resourceType: 'Patient', name: [{}] })).expression, ['Patient.name[0]']);
  });

  it('validates contained resources and Bundle entries against their own type', () => {
    const contained = validator.validate({
      resourceType: 'Patient',
      contained: [{ resourceType: 'Organization', id: 'o', name: 'n', foo: 1 }],
      managingOrganization: { reference: '#o' },
    });
    assert.deepEqual(only(contained).expression, ['Patient.contained[0].foo']);
    const bundle = validator.validate({
      resourceType: 'Bundle',
      type: 'collection',
      entry: [{ resource: { resourceType: 'Patient', gender: 'nope' } }],
    });
    assert.deepEqual(only(bundle).expression, ['Bundle.entry[0].resource.gender']);
  });

  it('recurses into backbone elements and content references', () => {
    const q = { resourceType: 'Questionnaire', status: 'draft', item: [{ linkId: '1', type: 'group', item: [{ type: 'string' }] }] };
    const issue = only(validator.validate(q));
    assert.equal(issue.code, 'required');
    assert.deepEqual(issue.expression, ['Questionnaire.item[0].item[0].linkId']);
  });

  it('requires url on extension and modifierExtension', () => {
    assert.deepEqual(only(validator.validate({ resourceType: 'Patient', extension: [{ valueString: 'x' }] })).expression, [
      'Patient.extension[0].url',
    ]);
    assert.equal(only(validator.validate({ resourceType: 'Patient', modifierExtension: [{ valueBoolean: true }] })).code, 'required');
  });
});

describe('validation: cardinality and choice types', () => {
  it('reports missing required elements with code required', () => {
    const issue = only(validator.validate({ resourceType: 'Observation', code: { text: 'x' } }));
    assert.equal(issue.code, 'required');
    assert.deepEqual(issue.expression, ['Observation.status']);
  });

  it('reports too many occurrences with code structure', () => {
    const codings = Array.from({ length: 2 }, () => ({ system: 'http://loinc.org', code: '1' }));
    const r = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, referenceRange: [{ text: 'a', appliesTo: [{ coding: codings }] }] };
    assert.deepEqual(validator.validate(r), []);
    const tooMany = { resourceType: 'Patient', link: [{ other: { reference: 'Patient/1' }, type: 'seealso' }] };
    assert.deepEqual(validator.validate(tooMany), []);
    const photo = { resourceType: 'Patient', contact: [{ name: { text: 'a' }, gender: 'male', period: [{}] }] };
    assert.equal(only(validator.validate(photo)).code, 'structure');
  });

  it('allows only the declared choice types, at most one', () => {
    assert.deepEqual(validator.validate({ resourceType: 'Patient', deceasedDateTime: '2020-01-01' }), []);
    assert.deepEqual(only(validator.validate({ resourceType: 'Patient', deceasedString: 'x' })).expression, ['Patient.deceasedString']);
    const two = only(validator.validate({ resourceType: 'Patient', deceasedBoolean: true, deceasedDateTime: '2020' }));
    assert.match(two.diagnostics, /Only one of the choices/);
  });

  it('names choice elements with ofType() in expressions', () => {
    const issue = only(validator.validate({ resourceType: 'Patient', multipleBirthInteger: 1.5 }));
    assert.deepEqual(issue.expression, ['Patient.multipleBirth.ofType(integer)']);
  });
});
