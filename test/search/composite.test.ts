import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HavenError } from '../../src/kernel/index.js';
import { openConformance } from './conformance-fixture.js';
import type { Conformance } from './conformance-fixture.js';

/**
 * Conformance: composite parameters (components matched within one element
 * instance) and quantities in UCUM canonical units. Expected ids come from the
 * HL7 example files (jq over valueQuantity / component) and conformance-data.ts.
 */
let c: Conformance;
before(async () => {
  c = await openConformance();
});
after(async () => {
  await c?.close();
});

const cvq = 'component-code-value-quantity';

test('component-code-value-quantity matches code and value of the same component', async () => {
  // HL7 blood-pressure and blood-pressure-dar: systolic 107 mm[Hg]; cf-o1 150/90, cf-o2 110/105.
  assert.deepEqual(await c.ids('Observation', `${cvq}=http://loinc.org|8480-6$gt100`), ['blood-pressure', 'blood-pressure-dar', 'cf-o1', 'cf-o2']);
  // cf-o1 has a component > 100 (systolic) and a diastolic component, but not in the same component.
  assert.deepEqual(await c.ids('Observation', `${cvq}=http://loinc.org|8462-4$gt100`), ['cf-o2']);
  assert.deepEqual(await c.ids('Observation', `${cvq}=http://loinc.org|8462-4$lt100`), ['blood-pressure', 'cf-o1']);
  assert.deepEqual(await c.ids('Observation', `${cvq}=8480-6$107|http://unitsofmeasure.org|mm[Hg]`), ['blood-pressure', 'blood-pressure-dar']);
  assert.deepEqual(await c.ids('Observation', `${cvq}=8480-6$ge150`), ['cf-o1']);
  assert.deepEqual(await c.ids('Observation', `${cvq}=8480-6$le107`), ['blood-pressure', 'blood-pressure-dar']);
});

test('composite alternatives OR, repeated composites AND (each on its own component)', async () => {
  assert.deepEqual(await c.ids('Observation', `${cvq}=8462-4$gt100,8462-4$lt70`), ['blood-pressure', 'cf-o2']);
  assert.deepEqual(await c.ids('Observation', `${cvq}=8480-6$gt140&${cvq}=8462-4$lt95`), ['cf-o1']);
  assert.deepEqual(await c.ids('Observation', `${cvq}=8480-6$gt140&${cvq}=8462-4$gt95`), []);
});

test('code-value-quantity and combo-code-value-quantity', async () => {
  // HL7 "example": body weight 29463-7 = 185 [lb_av].
  assert.deepEqual(await c.ids('Observation', 'code-value-quantity=http://loinc.org|29463-7$gt180'), ['example']);
  // UCUM inside a composite: 5.4 mg is 0.0054 g (cf-o3) and 5.4 mg (cf-o4).
  assert.deepEqual(await c.ids('Observation', 'code-value-quantity=http://loinc.org|2345-7$5.4|http://unitsofmeasure.org|mg'), ['cf-o3', 'cf-o4']);
  // combo covers the Observation's own code/value and its components.
  assert.deepEqual(await c.ids('Observation', 'combo-code-value-quantity=8480-6$gt100'), ['blood-pressure', 'blood-pressure-dar', 'cf-o1', 'cf-o2']);
  assert.deepEqual(await c.ids('Observation', 'combo-code-value-quantity=2345-7$gt50'), ['cf-o6']);
});

test('malformed composite values are refused', async () => {
  for (const q of [`${cvq}=8480-6`, `${cvq}=8480-6$gt1$x`, `${cvq}=$gt100`, `${cvq}:exact=8480-6$1`]) {
    await assert.rejects(c.ids('Observation', q), (e: unknown) => e instanceof HavenError && e.category === 'incorrect', q);
  }
});

test('UCUM: a quantity in mg finds the same amount in g, and other units of the dimension', async () => {
  assert.deepEqual(await c.ids('Observation', 'value-quantity=5.4|http://unitsofmeasure.org|mg'), ['cf-o3', 'cf-o4']);
  assert.deepEqual(await c.ids('Observation', 'value-quantity=0.0054|http://unitsofmeasure.org|g'), ['cf-o3', 'cf-o4']);
  assert.deepEqual(await c.ids('Observation', 'value-quantity=le5.4|http://unitsofmeasure.org|mg'), ['cf-o3', 'cf-o4']);
  // Above 5.4 mg: cf-o8 (5.5 mg) and HL7 "example" (185 [lb_av], a mass too).
  assert.deepEqual(await c.ids('Observation', 'value-quantity=gt5.4|http://unitsofmeasure.org|mg'), ['cf-o8', 'example']);
  // Every mass below 80 kg: only the milligram glucose values (mg/dL is a different dimension).
  assert.deepEqual(await c.ids('Observation', 'value-quantity=lt80|http://unitsofmeasure.org|kg'), ['cf-o3', 'cf-o4', 'cf-o8']);
  // HL7 "example" weighs 185 [lb_av] = 83.9 kg.
  assert.deepEqual(await c.ids('Observation', 'value-quantity=ap84|http://unitsofmeasure.org|kg'), ['example']);
  assert.deepEqual(await c.ids('Observation', 'value-quantity=gt80000|http://unitsofmeasure.org|g'), ['example']);
  // body-height 66.9 [in_i] = 1.70 m; body-length 25 cm and head-circumference 51.2 cm are shorter than 5 ft.
  assert.deepEqual(await c.ids('Observation', 'value-quantity=gt5|http://unitsofmeasure.org|[ft_i]'), ['body-height']);
});

test('UCUM special units (temperature) and units without a system', async () => {
  // body-temperature 36.5 Cel = 309.65 K, f202 39 Cel = 312.15 K; 100 [degF] = 37.8 Cel.
  assert.deepEqual(await c.ids('Observation', 'value-quantity=gt100|http://unitsofmeasure.org|[degF]'), ['f202']);
  assert.deepEqual(await c.ids('Observation', 'value-quantity=lt310|http://unitsofmeasure.org|K'), ['body-temperature']);
  // No system: code or unit text must match as written (cf-o5 has unit "mg" only); no conversion.
  assert.deepEqual(await c.ids('Observation', 'value-quantity=5.4||mg'), ['cf-o4', 'cf-o5']);
  assert.deepEqual(await c.ids('Observation', 'value-quantity=5.4'), ['cf-o4', 'cf-o5']);
  // A unit UCUM does not know still matches by code.
  assert.deepEqual(await c.ids('Observation', 'value-quantity=10|http://unitsofmeasure.org|{score}'), ['10minute-apgar-score', '20minute-apgar-score', '5minute-apgar-score']);
});
