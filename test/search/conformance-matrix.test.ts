import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openConformance } from './conformance-fixture.js';
import type { Conformance } from './conformance-fixture.js';

/**
 * Conformance: the cells of the type × modifier × prefix matrix the other
 * files leave empty (coverage-report.ts lists them): every number prefix,
 * quantity ne/ge/sa/eb, date le, :missing on string, token and uri, the
 * reference :[type] modifier, composite ne/sa/eb/ap and several components,
 * plus more date boundaries (one second either side of a period's ends, in
 * another time zone). Expected ids are read from conformance-data.ts.
 */
let c: Conformance;
before(async () => {
  c = await openConformance();
});
after(async () => {
  await c?.close();
});

test('number: every prefix, with the implicit precision of eq/ne (cf-ra1..4: 0.2, 0.25, 0.35, 0.5; cf-ra5 none)', async () => {
  const r = (q: string) => c.ids('RiskAssessment', q);
  // eq0.2 is [0.15, 0.25): 0.25 is outside; eq0.20 is [0.195, 0.205).
  assert.deepEqual(await r('probability=0.2'), ['cf-ra1']);
  assert.deepEqual(await r('probability=eq0.20'), ['cf-ra1']);
  // eq0.3 is [0.25, 0.35): half open.
  assert.deepEqual(await r('probability=eq0.3'), ['cf-ra2']);
  assert.deepEqual(await r('probability=ne0.2'), ['cf-ra2', 'cf-ra3', 'cf-ra4']);
  assert.deepEqual(await r('probability=gt0.25'), ['cf-ra3', 'cf-ra4']);
  assert.deepEqual(await r('probability=ge0.25'), ['cf-ra2', 'cf-ra3', 'cf-ra4']);
  assert.deepEqual(await r('probability=lt0.35'), ['cf-ra1', 'cf-ra2']);
  assert.deepEqual(await r('probability=le0.35'), ['cf-ra1', 'cf-ra2', 'cf-ra3']);
  assert.deepEqual(await r('probability=sa0.25'), ['cf-ra3', 'cf-ra4']);
  assert.deepEqual(await r('probability=eb0.25'), ['cf-ra1']);
  // ap is ±10 % of the value: [0.45, 0.55].
  assert.deepEqual(await r('probability=ap0.5'), ['cf-ra4']);
  assert.deepEqual(await r('probability=ap0.3'), []);
  assert.deepEqual(await r('probability=lt0.25,gt0.4'), ['cf-ra1', 'cf-ra4']);
  assert.deepEqual(await r('probability:missing=true'), ['cf-ra5']);
  assert.deepEqual(await r('probability:missing=false'), ['cf-ra1', 'cf-ra2', 'cf-ra3', 'cf-ra4']);
});

test('quantity ne/ge/sa/eb in UCUM canonical units (glucose: cf-o3 0.0054 g, cf-o4 5.4 mg, cf-o8 5.5 mg)', async () => {
  const g = (q: string) => c.ids('Observation', `${q}&code=http://loinc.org|2345-7`);
  const mg = '|http://unitsofmeasure.org|mg';
  // cf-o5 (5.4 mg without a system) does not match a search that names the system; cf-o6 is mg/dL, another dimension.
  assert.deepEqual(await g(`value-quantity=ne5.4${mg}`), ['cf-o8']);
  assert.deepEqual(await g(`value-quantity=ge5.4${mg}`), ['cf-o3', 'cf-o4', 'cf-o8']);
  assert.deepEqual(await g(`value-quantity=sa5.4${mg}`), ['cf-o8']);
  assert.deepEqual(await g(`value-quantity=eb5.5${mg}`), ['cf-o3', 'cf-o4']);
  assert.deepEqual(await g('value-quantity=ge5.45|http://unitsofmeasure.org|mg'), ['cf-o8']);
  // Without a unit the stored numbers compare as they are: 98 mg/dL too.
  assert.deepEqual(await g('value-quantity=ge5.4'), ['cf-o4', 'cf-o5', 'cf-o6', 'cf-o8']);
});

test('date le, and one second either side of a period end, in another time zone', async () => {
  // cf-e1: 2020-12-31T22:00Z – 2021-01-01T02:00Z (seconds precision: the end covers 02:00:00.999).
  const e = (q: string) => c.ids('Encounter', `${q}&subject=Patient/cf-p1`);
  assert.deepEqual(await e('date=le2021-01-01'), ['cf-e1']);
  assert.deepEqual(await e('date=le2020-12-31'), []);
  // 23:00+01:00 is 22:00Z, the start itself: nothing of the period lies below it.
  assert.deepEqual(await e('date=le2020-12-31T23:00:00%2B01:00'), []);
  assert.deepEqual(await e('date=le2020-12-31T23:00:01%2B01:00'), ['cf-e1']);
  // 02:59:59+01:00 is 01:59:59Z: part of the period lies above it; 03:00:01+01:00 is after the end.
  assert.deepEqual(await e('date=ge2021-01-01T02:59:59%2B01:00'), ['cf-e1']);
  assert.deepEqual(await e('date=ge2021-01-01T03:00:01%2B01:00'), []);
  assert.deepEqual(await e('date=gt2021-01-01T01:00:00-01:00'), []);
  assert.deepEqual(await e('date=lt2020-12-31T16:00:01-06:00'), ['cf-e1']);
  // Year precision: 2020 does not contain the period, which ends in 2021.
  assert.deepEqual(await e('date=2020'), []);
  assert.deepEqual(await e('date=ne2020'), ['cf-e1']);
  assert.deepEqual(await e('date=ap2020-12-31T23:00:00Z'), ['cf-e1']);
});

test(':missing on string, token and uri parameters', async () => {
  const p = (q: string) => c.ids('Patient', `${q}&_id=cf-p1,cf-p2,cf-p3`);
  // cf-p2 has a family name but no given name; cf-p3 no identifier; only cf-p1 a profile.
  assert.deepEqual(await p('given:missing=true'), ['cf-p2']);
  assert.deepEqual(await p('given:missing=false'), ['cf-p1', 'cf-p3']);
  assert.deepEqual(await p('identifier:missing=true'), ['cf-p3']);
  assert.deepEqual(await p('identifier:missing=false'), ['cf-p1', 'cf-p2']);
  assert.deepEqual(await p('_profile:missing=true'), ['cf-p2', 'cf-p3']);
  assert.deepEqual(await p('_profile:missing=false'), ['cf-p1']);
  assert.deepEqual(await p('_source:missing=true'), ['cf-p3']);
});

test('reference :[type] modifier', async () => {
  assert.deepEqual(await c.ids('Observation', 'subject:Patient=cf-p1'), ['cf-o1', 'cf-o3', 'cf-o6', 'cf-o9']);
  assert.deepEqual(await c.ids('Observation', 'subject:Group=cf-g1'), ['cf-o8']);
  assert.deepEqual(await c.ids('Observation', 'subject:Group=cf-p1'), []);
  // A type and an absolute id together.
  assert.deepEqual(await c.ids('Observation', 'subject:Patient=Patient/cf-p2&code=http://loinc.org|2345-7'), ['cf-o4']);
});

test('composite ne/sa/eb/ap and several components of one resource', async () => {
  // cf-o1: systolic 150, diastolic 90; cf-o2: systolic 110, diastolic 105 (mm[Hg]).
  const bp = (q: string) => c.ids('Observation', `${q}&subject=Patient/cf-p1,Patient/cf-p2`);
  const sys = (v: string) => `component-code-value-quantity=http://loinc.org|8480-6$${v}|http://unitsofmeasure.org|mm[Hg]`;
  const dia = (v: string) => `component-code-value-quantity=http://loinc.org|8462-4$${v}|http://unitsofmeasure.org|mm[Hg]`;
  assert.deepEqual(await bp(sys('ne150')), ['cf-o2']);
  assert.deepEqual(await bp(sys('sa110')), ['cf-o1']);
  assert.deepEqual(await bp(sys('eb150')), ['cf-o2']);
  assert.deepEqual(await bp(sys('ap150')), ['cf-o1']);
  assert.deepEqual(await bp(dia('ap100')), ['cf-o1', 'cf-o2']);
  // Each composite value must hold within one component: no diastolic is above 140, though a systolic is.
  assert.deepEqual(await bp(dia('gt140')), []);
  assert.deepEqual(await bp(`${sys('gt140')}&${dia('gt100')}`), []);
  assert.deepEqual(await bp(`${sys('lt120')}&${dia('gt100')}`), ['cf-o2']);
  assert.deepEqual(await bp(`${sys('gt100')}&${dia('le90')}`), ['cf-o1']);
});
