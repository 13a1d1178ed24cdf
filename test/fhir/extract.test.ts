import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createIndexer } from '../../src/fhir/extract.js';
import { compileFastPath } from '../../src/fhir/fast-path.js';
import type { IndexValue } from '../../src/fhir/index-values.js';
import { allExamples, example, fhir } from './support.js';

function values(resource: object, param: string): IndexValue[] {
  return fhir().indexer.extract(resource).filter((v) => v.param === param);
}

test('Patient-example: family, given, birthdate, identifier; no rows for _id', () => {
  const p = example('Patient-example.json');
  assert.deepEqual(values(p, 'family').map((v) => v.type === 'string' && v.value).sort(), ['Chalmers', 'Windsor']);
  assert.deepEqual(values(p, 'given').map((v) => v.type === 'string' && v.value).sort(), ['James', 'Jim', 'Peter']);
  const name = values(p, 'name').map((v) => v.type === 'string' && v.value);
  assert.ok(name.includes('Chalmers') && name.includes('Jim') && name.includes('Windsor'));
  assert.deepEqual(values(p, 'birthdate'), [
    { type: 'date', param: 'birthdate', low: '1974-12-25T00:00:00.000Z', high: '1974-12-25T23:59:59.999Z' },
  ]);
  assert.deepEqual(values(p, 'identifier'), [
    { type: 'token', param: 'identifier', system: 'urn:oid:1.2.36.146.595.217.0.1', code: '12345', text: null },
  ]);
  // _id and _lastUpdated are searched on the resource row's columns: no index rows.
  assert.deepEqual(values(p, '_id'), []);
  assert.deepEqual(values({ ...p, meta: { lastUpdated: '2020-01-01T00:00:00Z' } }, '_lastUpdated'), []);
  assert.deepEqual(values(p, 'gender'), [{ type: 'token', param: 'gender', system: null, code: 'male', text: null }]);
  assert.deepEqual(values(p, 'organization'), [
    { type: 'reference', param: 'organization', targetType: 'Organization', targetId: '1', url: null, version: null, identifierSystem: null, identifierValue: null },
  ]);
  const phones = values(p, 'phone').map((v) => v.type === 'token' && `${v.system}|${v.code}`);
  assert.ok(phones.includes('phone|(03) 5555 6473'));
});

test('Observation-example: code, value-quantity, date, subject, patient', () => {
  const o = example('Observation-example.json');
  const codes = values(o, 'code');
  assert.equal(codes.length, 4);
  assert.deepEqual(codes[0], { type: 'token', param: 'code', system: 'http://loinc.org', code: '29463-7', text: 'Body Weight' });
  assert.deepEqual(values(o, 'value-quantity'), [
    {
      type: 'quantity', param: 'value-quantity', value: '185', low: '184.5', high: '185.5', system: 'http://unitsofmeasure.org', code: '[lb_av]', unit: 'lbs',
      // UCUM canonical form: 1 [lb_av] is exactly 453.59237 g.
      canonValue: '83914.58845', canonCode: 'g',
    },
  ]);
  assert.deepEqual(values(o, 'date'), [
    { type: 'date', param: 'date', low: '2016-03-28T00:00:00.000Z', high: '2016-03-28T23:59:59.999Z' },
  ]);
  const ref = { targetType: 'Patient', targetId: 'example', url: null, version: null, identifierSystem: null, identifierValue: null };
  assert.deepEqual(values(o, 'subject'), [{ type: 'reference', param: 'subject', ...ref }]);
  assert.deepEqual(values(o, 'patient'), [{ type: 'reference', param: 'patient', ...ref }]);
  assert.deepEqual(values(o, 'focus'), []);
});

test('Encounter-home: date from a Period with offsets', () => {
  const e = example('Encounter-home.json');
  assert.deepEqual(values(e, 'date'), [
    { type: 'date', param: 'date', low: '2015-01-17T06:00:00.000Z', high: '2015-01-17T06:30:00.999Z' },
  ]);
});

test('Period with no end is open; contained and absolute references', () => {
  const enc = {
    resourceType: 'Encounter',
    status: 'in-progress',
    period: { start: '2020-03' },
    subject: { reference: '#p1' },
    serviceProvider: { reference: 'https://other.example/fhir/Organization/9' },
    basedOn: [{ identifier: { system: 'urn:x', value: 'sr-1' } }],
  };
  assert.deepEqual(values(enc, 'date'), [{ type: 'date', param: 'date', low: '2020-03-01T00:00:00.000Z', high: null }]);
  // A local reference is kept as its url for the store to resolve to the contained resource's key (src/store/contained.ts).
  assert.deepEqual(values(enc, 'subject'), [
    { type: 'reference', param: 'subject', targetType: null, targetId: null, url: '#p1', version: null, identifierSystem: null, identifierValue: null },
  ]);
  const sp = values(enc, 'service-provider')[0];
  assert.ok(sp?.type === 'reference' && sp.url === 'https://other.example/fhir/Organization/9' && sp.targetId === null);
  const based = values(enc, 'based-on')[0];
  assert.ok(based?.type === 'reference' && based.identifierValue === 'sr-1' && based.targetType === null);
});

test('canonical references carry url and version', () => {
  const proc = { resourceType: 'Procedure', status: 'completed', subject: { reference: 'Patient/1' }, instantiatesCanonical: ['http://ex.org/PlanDefinition/pd|2.1'] };
  const v = values(proc, 'instantiates-canonical')[0];
  assert.ok(v?.type === 'reference');
  assert.equal(v.url, 'http://ex.org/PlanDefinition/pd');
  assert.equal(v.version, '2.1');
});

test('CodeableConcept.text is indexed for :text; Identifier.type.text as token text', () => {
  const c = { resourceType: 'Condition', subject: { reference: 'Patient/1' }, code: { text: 'Sore throat' }, identifier: [{ type: { text: 'MRN' }, value: '7' }] };
  assert.deepEqual(values(c, 'code'), [{ type: 'token', param: 'code', system: null, code: null, text: 'Sore throat' }]);
  assert.deepEqual(values(c, 'identifier'), [{ type: 'token', param: 'identifier', system: null, code: '7', text: 'MRN' }]);
});

test('fast path gives the same index values as fhirpath.js on every HL7 example', () => {
  const slow = createIndexer(fhir().registry, { fastPath: false });
  const key = (v: IndexValue): string => JSON.stringify(v);
  let compared = 0;
  for (const { file, resource } of allExamples(fhir().resourceTypes)) {
    const a = fhir().indexer.extract(resource).map(key).sort();
    const b = slow.extract(resource).map(key).sort();
    assert.deepEqual(a, b, file);
    compared++;
  }
  assert.ok(compared > 800, `compared ${compared}`);
});

test('custom SearchParameter registered at run time is extracted', () => {
  const defs = fhir();
  const registry = defs.registry;
  registry.register({
    resourceType: 'SearchParameter',
    url: 'https://haven.test/SearchParameter/patient-nickname',
    code: 'nickname-test',
    base: ['Patient'],
    type: 'string',
    expression: "Patient.name.where(use = 'usual').given",
  });
  const p = example('Patient-example.json');
  assert.deepEqual(values(p, 'nickname-test'), [{ type: 'string', param: 'nickname-test', value: 'Jim' }]);
});

test('composites: only groups with every component are indexed', () => {
  const o = {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
    valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
    component: [{ code: { coding: [{ system: 'http://loinc.org', code: '8480-6' }] } }],
  };
  const params = new Set(fhir().indexer.extract(o).map((v) => v.param));
  // code-value-quantity's group is the whole Observation: the code and value-quantity rows answer for it.
  assert.ok(params.has('code') && params.has('value-quantity') && !params.has('code-value-quantity$0'));
  // No valueString/valueDateTime: those composites can never match.
  for (const p of ['code-value-string$0', 'code-value-date$0']) assert.ok(!params.has(p), p);
  const dated = new Set(fhir().indexer.extract({ ...o, valueQuantity: undefined, valueDateTime: '2020-01-02' }).map((v) => v.param));
  assert.ok(dated.has('code-value-date$0') && dated.has('code-value-date$1'));
  // The component has a code but no value: no component composite rows either.
  assert.ok(!params.has('component-code-value-quantity$0'));
  assert.ok(params.has('component-code'));
});

test('deceased (exists() and != false) takes the fast path and indexes as fhirpath.js does', () => {
  const expression = fhir().registry.expression('Patient', 'deceased')!;
  assert.ok(compileFastPath(expression, 'Patient'), expression);
  const slow = createIndexer(fhir().registry, { fastPath: false });
  const variants: Record<string, unknown>[] = [
    {},
    { deceasedBoolean: true },
    { deceasedBoolean: false },
    { deceasedDateTime: '2008-08-25T11:16:30+01:15' },
    { deceasedDateTime: '2008' },
    { deceasedBoolean: false, deceasedDateTime: '2008' },
    { _deceasedBoolean: { extension: [{ url: 'http://example.org/x', valueString: 'x' }] } },
    { deceasedBoolean: false, _deceasedBoolean: { id: 'a' } },
  ];
  for (const v of variants) {
    const resource = { resourceType: 'Patient', id: 'p', ...v };
    const fast = fhir().indexer.extract(resource).filter((x) => x.param === 'deceased');
    assert.deepEqual(fast, slow.extract(resource).filter((x) => x.param === 'deceased'), JSON.stringify(v));
  }
  assert.deepEqual(values({ resourceType: 'Patient' }, 'deceased'), [{ type: 'token', param: 'deceased', system: null, code: 'false', text: null }]);
  assert.deepEqual(values({ resourceType: 'Patient', deceasedDateTime: '2020-01-01' }, 'deceased'), [{ type: 'token', param: 'deceased', system: null, code: 'true', text: null }]);
});

test('repeated values are indexed once, in first-seen order, however many a parameter has', () => {
  for (const distinct of [3, 40]) {
    const identifier = [];
    for (let i = 0; i < distinct; i++) identifier.push({ system: 'urn:s', value: `v${i}` }, { system: 'urn:s', value: `v${i}` }, { system: 'urn:s', value: `v${i % 2}` });
    const found = values({ resourceType: 'Patient', identifier, name: [{ family: 'Doe' }, { family: 'Doe', given: ['Doe'] }] }, 'identifier');
    assert.deepEqual(found.map((v) => (v as { code: string }).code), Array.from({ length: distinct }, (_, i) => `v${i}`));
  }
  const family = values({ resourceType: 'Patient', name: [{ family: 'Doe' }, { family: 'Doe', given: ['Doe'] }] }, 'name');
  assert.deepEqual(family.map((v) => (v as { value: string }).value), ['Doe']);
});
