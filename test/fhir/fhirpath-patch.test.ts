import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyFhirPathPatch } from '../../src/fhir/fhirpath-patch.js';
import { createValidator } from '../../src/fhir/validation/index.js';
import { HavenError } from '../../src/kernel/index.js';

const validator = createValidator();
const elementsOf = (p: string) => validator.elementsOf(p);

type Json = Record<string, unknown>;

/** One `operation` parameter from its parts: strings become the value[x] the spec names for each part. */
function op(type: string, path: string, extra: Json = {}): Json {
  const part: Json[] = [
    { name: 'type', valueCode: type },
    { name: 'path', valueString: path },
  ];
  for (const [name, v] of Object.entries(extra)) {
    if (name === 'name') part.push({ name, valueString: v });
    else if (name === 'index' || name === 'source' || name === 'destination') part.push({ name, valueInteger: v });
    else part.push({ name: 'value', ...(v as Json) });
  }
  return { name: 'operation', part };
}

const patch = (...operations: Json[]): Json => ({ resourceType: 'Parameters', parameter: operations });

function patient(): Json {
  return {
    resourceType: 'Patient',
    id: 'p1',
    identifier: [{ system: 'urn:mrn', value: '1' }],
    name: [
      { use: 'usual', family: 'Usual', given: ['A', 'B'] },
      { use: 'official', family: 'Official', given: ['C'] },
    ],
    birthDate: '1970-01-01',
    deceasedBoolean: false,
  };
}

function apply(resource: Json, body: Json): Json {
  const out = applyFhirPathPatch(resource, body, elementsOf);
  const errors = validator.validate(out).filter((i) => i.severity === 'error');
  assert.deepEqual(errors, [], 'the patched resource is valid');
  return out;
}

function refused(resource: Json, body: Json, code: string, pattern?: RegExp): void {
  assert.throws(
    () => applyFhirPathPatch(resource, body, elementsOf),
    (err: unknown) => err instanceof HavenError && err.code === code && (!pattern || pattern.test(err.message)),
  );
}

describe('FHIRPath Patch: the five operations', () => {
  test('add sets a single element and appends to a list', () => {
    const p = patient();
    delete p.birthDate;
    apply(p, patch(op('add', 'Patient', { name: 'birthDate', value: { valueDate: '1930-01-01' } }), op('add', 'Patient', { name: 'identifier', value: { valueIdentifier: { system: 'urn:ssn', value: '2' } } })));
    assert.equal(p.birthDate, '1930-01-01');
    assert.deepEqual((p.identifier as Json[]).map((i) => i.value), ['1', '2']);
  });

  test('add builds a backbone element from nested parts, choice types included', () => {
    const p = patient();
    apply(
      p,
      patch(
        op('add', 'Patient', {
          name: 'contact',
          value: {
            part: [
              { name: 'name', valueHumanName: { family: 'Contact' } },
              { name: 'relationship', valueCodeableConcept: { text: 'friend' } },
              { name: 'telecom', valueContactPoint: { system: 'phone', value: '555-0100' } },
              { name: 'telecom', valueContactPoint: { system: 'email', value: 'c@example.org' } },
            ],
          },
        }),
      ),
    );
    const contact = (p.contact as Json[])[0]!;
    assert.deepEqual(contact.name, { family: 'Contact' });
    assert.deepEqual(contact.relationship, [{ text: 'friend' }], 'relationship is a list in R4');
    assert.equal((contact.telecom as Json[]).length, 2);

    const o: Json = { resourceType: 'Observation', status: 'final', code: { text: 'panel' } };
    apply(o, patch(op('add', 'Observation', { name: 'component', value: { part: [{ name: 'code', valueCodeableConcept: { text: 'systolic' } }, { name: 'value', valueQuantity: { value: 120, unit: 'mmHg' } }] } })));
    assert.deepEqual((o.component as Json[])[0], { code: { text: 'systolic' }, valueQuantity: { value: 120, unit: 'mmHg' } });
  });

  test('insert puts a value at an index, also into a list that does not exist yet', () => {
    const p = patient();
    apply(p, patch(op('insert', 'Patient.name[0].given', { value: { valueString: 'First' }, index: 0 }), op('insert', 'Patient.telecom', { value: { valueContactPoint: { system: 'phone', value: '1' } }, index: 0 })));
    assert.deepEqual((p.name as Json[])[0]!.given, ['First', 'A', 'B']);
    assert.equal((p.telecom as Json[]).length, 1);
  });

  test('delete removes one element, tidies what it empties, and is a no-op when nothing matches', () => {
    const p = patient();
    apply(p, patch(op('delete', "Patient.name.where(use='usual').given[0]"), op('delete', 'Patient.deceased'), op('delete', 'Patient.photo')));
    assert.deepEqual((p.name as Json[])[0]!.given, ['B']);
    assert.equal('deceasedBoolean' in p, false);
    apply(p, patch(op('delete', 'Patient.identifier[0].system'), op('delete', 'Patient.identifier[0].value')));
    assert.equal('identifier' in p, false, 'an element left empty goes with its last child (ele-1)');
  });

  test('delete, add and insert keep a primitive list and its extensions aligned', () => {
    const p = patient();
    const ext = (v: string) => ({ extension: [{ url: 'http://x', valueString: v }] });
    (p.name as Json[])[0]!._given = [ext('a'), ext('b')];
    apply(p, patch(op('delete', 'Patient.name[0].given[0]')));
    assert.deepEqual((p.name as Json[])[0]!._given, [ext('b')]);
    apply(p, patch(op('add', 'Patient.name[0]', { name: 'given', value: { valueString: 'Z' } }), op('insert', 'Patient.name[0].given', { value: { valueString: 'Y' }, index: 0 })));
    assert.deepEqual((p.name as Json[])[0]!.given, ['Y', 'B', 'Z']);
    assert.deepEqual((p.name as Json[])[0]!._given, [null, ext('b'), null]);
  });

  test('replace changes a value in place and a choice element to another of its types', () => {
    const p = patient();
    apply(p, patch(op('replace', "Patient.name.where(use='official').family", { value: { valueString: 'Renamed' } }), op('replace', 'Patient.deceased', { value: { valueDateTime: '2020-02-02' } })));
    assert.equal((p.name as Json[])[1]!.family, 'Renamed');
    assert.equal(p.deceasedDateTime, '2020-02-02');
    assert.equal('deceasedBoolean' in p, false);
  });

  test('move reorders a list', () => {
    const p = patient();
    apply(p, patch(op('move', 'Patient.name', { source: 1, destination: 0 })));
    assert.deepEqual((p.name as Json[]).map((n) => n.use), ['official', 'usual']);
  });

  test('operations apply in order, each to the result of the last', () => {
    const p = patient();
    apply(p, patch(op('add', 'Patient', { name: 'gender', value: { valueCode: 'female' } }), op('replace', 'Patient.gender', { value: { valueCode: 'male' } })));
    assert.equal(p.gender, 'male');
  });
});

describe('FHIRPath Patch: what is refused, and why', () => {
  const cases: [string, Json, string, RegExp][] = [
    ['a body that is not Parameters', { resourceType: 'Patient' }, 'FHIRPATH_PATCH_MALFORMED', /Parameters/],
    ['an unknown operation type', patch(op('upsert', 'Patient')), 'FHIRPATH_PATCH_MALFORMED', /type must be/],
    ['add without a value', patch({ name: 'operation', part: [{ name: 'type', valueCode: 'add' }, { name: 'path', valueString: 'Patient' }, { name: 'name', valueString: 'gender' }] }), 'FHIRPATH_PATCH_MALFORMED', /needs a value/],
    ['a value with two value[x]', patch(op('replace', 'Patient.gender', { value: { valueCode: 'male', valueString: 'male' } })), 'FHIRPATH_PATCH_MALFORMED', /exactly one/],
    ['a negative index', patch(op('insert', 'Patient.name', { value: { valueHumanName: { family: 'X' } }, index: -1 })), 'FHIRPATH_PATCH_MALFORMED', /0 or more/],
    ['replace of nothing', patch(op('replace', 'Patient.gender', { value: { valueCode: 'male' } })), 'PATCH_INVALID', /selects no element/],
    ['replace of several', patch(op('replace', 'Patient.name.family', { value: { valueString: 'X' } })), 'PATCH_INVALID', /selects 2 elements/],
    ['add of a single element already present', patch(op('add', 'Patient', { name: 'birthDate', value: { valueDate: '1999-01-01' } })), 'PATCH_INVALID', /already present/],
    ['add of a second choice variant', patch(op('add', 'Patient', { name: 'deceased', value: { valueDateTime: '2020-01-01' } })), 'PATCH_INVALID', /already present/],
    ['an element the type does not define', patch(op('add', 'Patient', { name: 'colour', value: { valueString: 'blue' } })), 'PATCH_INVALID', /not defined/],
    ['a value of the wrong type', patch(op('add', 'Patient', { name: 'maritalStatus', value: { valueHumanName: { family: 'X' } } })), 'PATCH_INVALID', /does not fit/],
    ['a choice type the element does not have', patch(op('replace', 'Patient.deceased', { value: { valueString: 'yes' } })), 'PATCH_INVALID', /one of its types/],
    ['insert past the end', patch(op('insert', 'Patient.name', { value: { valueHumanName: { family: 'X' } }, index: 3 })), 'PATCH_INVALID', /past the end/],
    ['insert into a single element', patch(op('insert', 'Patient.birthDate', { value: { valueDate: '1999-01-01' }, index: 0 })), 'PATCH_INVALID', /list/],
    ['move out of range', patch(op('move', 'Patient.name', { source: 0, destination: 2 })), 'PATCH_INVALID', /below the list/],
    ['delete of the resource', patch(op('delete', 'Patient')), 'PATCH_INVALID', /resource itself/],
    ['a computed value', patch(op('replace', 'Patient.birthDate.toString()', { value: { valueDate: '1999-01-01' } })), 'PATCH_INVALID', /computed value/],
    ['resolve()', patch(op('delete', 'Patient.managingOrganization.resolve().name')), 'PATCH_INVALID', /resolve/],
    ['a path that does not parse', patch(op('delete', 'Patient.name.where(')), 'PATCH_INVALID', /FHIRPath/],
  ];
  for (const [name, body, code, pattern] of cases) {
    test(name, () => refused(patient(), body, code, pattern));
  }

  test('messages quote neither the path nor the value (both may be PHI)', () => {
    try {
      applyFhirPathPatch(patient(), patch(op('replace', "Patient.name.where(family='Secretname').family", { value: { valueString: 'Othersecret' } })), elementsOf);
      assert.fail('expected a refusal');
    } catch (err) {
      assert.ok(err instanceof HavenError);
      assert.doesNotMatch(err.message, /Secretname|Othersecret/);
      assert.deepEqual(err.issues[0]!.expression, ['Parameters.parameter[0]']);
    }
  });
});
