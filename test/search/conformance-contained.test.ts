import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { openConformance } from './conformance-fixture.js';
import type { Conformance } from './conformance-fixture.js';

/**
 * Conformance of `_contained` and of chains through local references over
 * HL7's official R4 examples, which hold contained resources (the Apgar
 * Observations' newborn Patient, the Lists' FamilyMemberHistory entries,
 * Encounter-home's Location). Each expected set is computed here by walking
 * the examples' JSON, independently of extraction and the index.
 */
let c: Conformance;
before(async () => {
  c = await openConformance();
});
after(async () => {
  await c?.close();
});

type Json = Record<string, any>;

/** Every contained resource of the loaded data, with its container. */
function containedPairs(): { container: Json; inner: Json }[] {
  return c.resources.flatMap((r: Json) => ((r['contained'] as Json[] | undefined) ?? []).map((inner) => ({ container: r, inner })));
}

const keyOf = (container: Json, inner: Json) => `${container['resourceType']}/${container['id']}#${inner['id']}`;
const containerOf = (container: Json) => `${container['resourceType']}/${container['id']}`;
const unique = (xs: string[]) => [...new Set(xs)].sort();

function expectContained(type: string, holds: (r: Json) => boolean): { alone: string[]; containers: string[] } {
  const found = containedPairs().filter((p) => p.inner['resourceType'] === type && holds(p.inner));
  return { alone: unique(found.map((p) => keyOf(p.container, p.inner))), containers: unique(found.map((p) => containerOf(p.container))) };
}

const hasCoding = (concept: Json | undefined, system: string, code: string) => (concept?.['coding'] as Json[] | undefined)?.some((x) => x['system'] === system && x['code'] === code) ?? false;

test('contained Patients by name, gender and birth date: alone, as containers, and with stored ones (both)', async () => {
  const chalmers = (p: Json) => (p['name'] as Json[] | undefined)?.some((n) => n['family'] === 'Chalmers') === true && p['gender'] === 'male';
  const expected = expectContained('Patient', chalmers);
  assert.ok(expected.alone.length >= 5, 'the Apgar examples hold a newborn each');
  assert.deepEqual(await c.contained('Patient', 'family=Chalmers&gender=male', 'true', 'contained'), expected.alone);
  assert.deepEqual(await c.contained('Patient', 'family=Chalmers&gender=male', 'true', 'container'), expected.containers);
  const stored = (await c.ids('Patient', 'family=Chalmers&gender=male')).map((id) => `Patient/${id}`);
  assert.ok(stored.length > 0, 'Patient/example is a stored Chalmers');
  assert.ok(!stored.some((s) => s.includes('#')), 'a search without _contained never returns a contained resource');
  assert.deepEqual(await c.contained('Patient', 'family=Chalmers&gender=male', 'both', 'contained'), unique([...stored, ...expected.alone]));
  assert.deepEqual(await c.contained('Patient', 'family=Chalmers&gender=male', 'both', 'container'), unique([...stored, ...expected.containers]));
  const born = expectContained('Patient', (p) => p['birthDate'] === '2016-05-18');
  assert.deepEqual(await c.contained('Patient', 'birthdate=2016-05-18', 'true', 'contained'), born.alone);
  assert.deepEqual(await c.contained('Patient', 'birthdate=lt2016-05-18', 'true', 'contained'), expectContained('Patient', (p) => typeof p['birthDate'] === 'string' && p['birthDate'] < '2016-05-18').alone);
});

test('contained FamilyMemberHistory by relationship token; Location without criteria', async () => {
  const mother = expectContained('FamilyMemberHistory', (f) => hasCoding(f['relationship'], 'http://snomed.info/sct', '72705000'));
  assert.ok(mother.alone.length > 0);
  assert.deepEqual(await c.contained('FamilyMemberHistory', 'relationship=http://snomed.info/sct|72705000', 'true', 'contained'), mother.alone);
  assert.deepEqual(await c.contained('FamilyMemberHistory', 'relationship=http://snomed.info/sct|72705000', 'true', 'container'), mother.containers);
  assert.deepEqual(await c.ids('FamilyMemberHistory', 'relationship=http://snomed.info/sct|72705000'), [], 'none stored on its own');
  assert.deepEqual(await c.contained('Location', '', 'true', 'container'), expectContained('Location', () => true).containers);
});

/** The stored resources of `type` whose `refs` reach (via `#local` or `Type/id`) a resource `holds` accepts. */
function referring(type: string, refs: (r: Json) => (Json | undefined)[], targetType: string, holds: (t: Json) => boolean): string[] {
  const stored = new Map(c.resources.map((r: Json) => [`${r['resourceType']}/${r['id']}`, r]));
  return unique(
    c.resources
      .filter((r: Json) => r['resourceType'] === type)
      .filter((r: Json) =>
        refs(r).some((ref) => {
          const literal = ref?.['reference'];
          if (typeof literal !== 'string') return false;
          const target = literal.startsWith('#') ? ((r['contained'] as Json[] | undefined) ?? []).find((x) => x['id'] === literal.slice(1)) : stored.get(literal);
          return target !== undefined && target['resourceType'] === targetType && holds(target);
        }),
      )
      .map((r: Json) => String(r['id'])),
  );
}

test('chains follow local references into contained resources (R4: chained conditions are evaluated inside contained resources)', async () => {
  const newborn = referring('Observation', (o) => [o['subject']], 'Patient', (p) => p['birthDate'] === '2016-05-18');
  assert.ok(newborn.length >= 5);
  assert.deepEqual(await c.ids('Observation', 'subject:Patient.birthdate=2016-05-18'), newborn);
  // `patient` is `subject.where(resolve() is Patient)`: the local reference's target type is the contained resource's.
  assert.deepEqual(await c.ids('Observation', 'patient.birthdate=2016-05-18'), newborn);
  const mothers = referring('List', (l) => ((l['entry'] as Json[] | undefined) ?? []).map((e) => e['item']), 'FamilyMemberHistory', (f) =>
    hasCoding(f['relationship'], 'http://snomed.info/sct', '72705000'),
  );
  assert.ok(mothers.length > 0);
  assert.deepEqual(await c.ids('List', 'item:FamilyMemberHistory.relationship=http://snomed.info/sct|72705000'), mothers);
});
