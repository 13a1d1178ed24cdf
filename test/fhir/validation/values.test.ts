import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPrimitive } from '../../../src/fhir/validation/primitives.js';
import { parseReference } from '../../../src/fhir/validation/references.js';
import { createValidator } from '../../../src/fhir/validation/index.js';

const validator = createValidator();

const valid: Array<[string, unknown]> = [
  ['id', 'a-B.1'], ['date', '2020'], ['date', '2020-02-29'], ['dateTime', '2020-01-01T10:00:00+01:00'],
  ['instant', '2020-01-01T10:00:00.123Z'], ['time', '23:59:60'], ['decimal', 1.5], ['integer', -3],
  ['positiveInt', 1], ['unsignedInt', 0], ['uri', 'urn:x'], ['code', 'a b'], ['oid', 'urn:oid:1.2.3'],
  ['uuid', 'urn:uuid:c757873d-ec9a-4326-a141-556f43239520'], ['base64Binary', 'aGk/+A==\n'], ['boolean', false],
  ['string', 'a\u00a0b'], ['markdown', '# x'], ['string', 'emoji \u{1F600} is a surrogate pair'],
];
const invalid: Array<[string, unknown]> = [
  ['id', 'a_b'], ['id', 'x'.repeat(65)], ['date', '2020-13'], ['date', '20'], ['dateTime', '2020-01-01T10:00:00'],
  ['instant', '2020-01-01'], ['time', '24:00:00'], ['decimal', '1.5'], ['integer', 1.5], ['integer', 2 ** 31],
  ['positiveInt', 0], ['unsignedInt', -1], ['uri', 'a b'], ['code', ' a'], ['code', 'a  b'], ['oid', '1.2.3'],
  ['uuid', 'urn:uuid:C757873D-EC9A-4326-A141-556F43239520'], ['base64Binary', 'abc'], ['boolean', 'true'],
  ['string', ''], ['markdown', ''], ['string', 1],
  // Not storable: PostgreSQL text has no U+0000, and a lone surrogate would come back as U+FFFD.
  ['string', 'a\u0000b'], ['code', 'a\u0000'], ['uri', 'http://x/\u0000'], ['string', 'a\ud800b'], ['markdown', '\udc00'],
];

describe('validation: primitives', () => {
  for (const [type, value] of valid) {
    it(`accepts ${type} ${JSON.stringify(value)}`, () => assert.equal(checkPrimitive(type, value), undefined));
  }
  for (const [type, value] of invalid) {
    it(`rejects ${type} ${JSON.stringify(value)}`, () => assert.notEqual(checkPrimitive(type, value), undefined));
  }

  it('reports a JSON type mismatch as structure and a bad lexical form as value', () => {
    assert.equal(validator.validate({ resourceType: 'Patient', active: 'true' })[0]?.code, 'structure');
    const bad = validator.validate({ resourceType: 'Patient', birthDate: '1970-13-01' });
    assert.deepEqual(bad.map((i) => [i.code, i.expression?.[0]]), [['value', 'Patient.birthDate']]);
    assert.equal(validator.validate({ resourceType: 'Patient', id: 'a_b' })[0]?.code, 'value');
  });
});

describe('validation: nesting depth', () => {
  const nested = (levels: number): unknown => {
    let ext: Record<string, unknown> = { url: 'http://example.org/leaf', valueString: 'x' };
    for (let i = 1; i < levels; i++) ext = { url: `http://example.org/level${i}`, extension: [ext] };
    return { resourceType: 'Patient', extension: [ext] };
  };
  it('walks real depths and refuses absurd ones with an issue, not a stack overflow', () => {
    assert.deepEqual(validator.validate(nested(40)), []);
    const deep = validator.validate(nested(5000));
    assert.equal(deep.length, 1);
    assert.equal(deep[0]?.code, 'structure');
    assert.match(deep[0]?.diagnostics ?? '', /nest deeper than 128 levels/);
  });
  it('counts depth across Bundle entries and contained resources', () => {
    let bundle: Record<string, unknown> = { resourceType: 'Basic', code: { text: 'x' } };
    for (let i = 0; i < 200; i++) bundle = { resourceType: 'Bundle', type: 'collection', entry: [{ resource: bundle }] };
    assert.match(validator.validate(bundle)[0]?.diagnostics ?? '', /nest deeper than 128 levels/);
  });
});

describe('validation: references', () => {
  it('classifies reference formats', () => {
    assert.deepEqual(parseReference('Patient/123'), { kind: 'relative', type: 'Patient' });
    assert.deepEqual(parseReference('Patient/1/_history/2'), { kind: 'relative', type: 'Patient' });
    assert.deepEqual(parseReference('http://x.org/fhir/Patient/1'), { kind: 'absolute', type: 'Patient' });
    assert.equal(parseReference('#a').kind, 'local');
    assert.equal(parseReference('urn:uuid:c757873d-ec9a-4326-a141-556f43239520').kind, 'urn');
    assert.equal(parseReference('urn:oid:1.2.3').kind, 'urn');
    assert.equal(parseReference('Patient?identifier=x').kind, 'conditional');
    assert.equal(parseReference('not a reference').kind, 'invalid');
    assert.equal(parseReference('Patient/').kind, 'invalid');
  });

  it('checks the target type of relative references', () => {
    const gp = (reference: string): unknown => ({ resourceType: 'Patient', generalPractitioner: [{ reference }] });
    assert.deepEqual(validator.validate(gp('Practitioner/1')), []);
    assert.deepEqual(validator.validate(gp('http://x.org/fhir/Patient/1')), []);
    const wrong = validator.validate(gp('Patient/1'));
    assert.deepEqual(wrong.map((i) => i.expression?.[0]), ['Patient.generalPractitioner[0].reference']);
    assert.match(validator.validate(gp('Foo/1'))[0]?.diagnostics ?? '', /Unknown resource type/);
    assert.match(validator.validate(gp('x y'))[0]?.diagnostics ?? '', /Invalid reference/);
    // Reference(Any) accepts every resource type.
    assert.deepEqual(validator.validate({ resourceType: 'Provenance', target: [{ reference: 'Patient/1' }], recorded: '2020-01-01T00:00:00Z', agent: [{ who: { display: 'x' } }] }), []);
  });

  it('requires local references to resolve to a contained resource (ref-1)', () => {
    const issues = validator.validate({ resourceType: 'Patient', managingOrganization: { reference: '#nope' } });
    assert.equal(issues[0]?.details, 'ref-1');
  });
});

describe('validation: required bindings', () => {
  it('checks code elements', () => {
    assert.equal(validator.validate({ resourceType: 'Patient', gender: 'xyz' })[0]?.code, 'code-invalid');
  });

  it('checks codes of complex datatypes reached by recursion', () => {
    const r = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueQuantity: { value: 1, comparator: '~' } };
    assert.deepEqual(validator.validate(r)[0]?.expression, ['Observation.value.ofType(Quantity).comparator']);
  });

  it('checks CodeableConcepts: one coding from the value set suffices', () => {
    const cond = (coding: unknown[]): unknown => ({ resourceType: 'Condition', subject: { reference: 'Patient/1' }, clinicalStatus: { coding } });
    const good = { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' };
    const bad = { system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'bogus' };
    assert.deepEqual(validator.validate(cond([good])), []);
    assert.deepEqual(validator.validate(cond([bad, good])), []);
    assert.equal(validator.validate(cond([bad]))[0]?.code, 'code-invalid');
  });

  it('skips value sets it cannot expand and bindings that are not required', () => {
    // Attachment.contentType is bound (required) to mime types, an external code system.
    const r = { resourceType: 'Patient', photo: [{ contentType: 'application/x-made-up' }] };
    assert.deepEqual(validator.validate(r), []);
    const enc = { resourceType: 'Encounter', status: 'finished', class: { system: 'http://example.org', code: 'X' } };
    assert.deepEqual(validator.validate(enc), []);
  });
});
