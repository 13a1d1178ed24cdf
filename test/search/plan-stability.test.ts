import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIncludeRound, compileSearch, hasValueFreePlan, parseInclude, parseSearch } from '../../src/search/index.js';
import type { SearchQuery } from '../../src/search/index.js';
import { createTestRegistry } from './registry.js';

/** Which pages may be planned generically (src/search/plan-stability.ts). */
const registry = createTestRegistry();
const now = () => new Date('2026-01-01T00:00:00Z');
const parse = (type: string, params: [string, string][]): SearchQuery => parseSearch(type, params, registry, { strict: true, now });
const common = (...ids: string[]) => ({ has: (id: string) => ids.includes(id) });

test('pages that select by id or by literal reference are plan-stable', () => {
  assert.equal(hasValueFreePlan(parse('Patient', [['_id', 'p1']])), true);
  assert.equal(hasValueFreePlan(parse('Patient', [['_id', 'p1,p2,p3']])), true);
  assert.equal(hasValueFreePlan(parse('Observation', [['patient', 'Patient/p1']])), true);
  assert.equal(hasValueFreePlan(parse('Observation', [['patient', 'p1']])), true);
  assert.equal(hasValueFreePlan(parse('Observation', [['subject:Patient', 'p1']])), true);
  assert.equal(hasValueFreePlan(parse('Observation', [['patient', 'Patient/p1,Patient/p2'], ['_sort', '-_id']])), true);
  const compartment = { ...parse('Observation', []), compartment: { compartment: 'Patient', id: 'p1', params: ['subject'] } };
  assert.equal(hasValueFreePlan(compartment), true);
  // A patient's compartment and the same patient again (a patient-context token searching by patient).
  const alsoIn = { compartment: 'Patient', id: 'p1', params: ['subject'] };
  assert.equal(hasValueFreePlan({ ...parse('Observation', [['patient', 'Patient/p1']]), alsoIn }), true);
  assert.equal(hasValueFreePlan({ ...parse('Observation', [['_id', 'o1'], ['patient', 'Patient/p1']]), alsoIn }), true);
});

test('two different reference targets are not plan-stable: which one drives is the choice a generic plan cannot make', () => {
  assert.equal(hasValueFreePlan(parse('Observation', [['patient', 'Patient/p1'], ['subject', 'Patient/p2']])), false);
  const alsoIn = { compartment: 'Patient', id: 'p2', params: ['subject'] };
  assert.equal(hasValueFreePlan({ ...parse('Observation', [['patient', 'Patient/p1']]), alsoIn }), false);
  assert.equal(hasValueFreePlan({ ...parse('Observation', [['patient', 'Patient/p1,Patient/p2']]), alsoIn }), false);
});

test('a value the plan depends on makes a page custom-planned', () => {
  // ADR 0002: the generic plan of patient+code was 2.6 s against 0.8 ms.
  assert.equal(hasValueFreePlan(parse('Observation', [['patient', 'Patient/p1'], ['code', 'http://loinc.org|8867-4']])), false);
  assert.equal(hasValueFreePlan(parse('Patient', [['family', 'Smith']])), false);
  assert.equal(hasValueFreePlan(parse('Encounter', [['date', 'ge2020-01-01']])), false);
  assert.equal(hasValueFreePlan(parse('Observation', [['patient', 'Patient/p1'], ['_sort', '-date']])), false);
  assert.equal(hasValueFreePlan(parse('Observation', [['patient:missing', 'true']])), false);
  assert.equal(hasValueFreePlan(parse('Patient', [['_id:not', 'p1']])), false);
  assert.equal(hasValueFreePlan(parse('Observation', [['patient.family', 'Smith']])), false);
  assert.equal(hasValueFreePlan(parse('Observation', [['subject', 'http://other.example/fhir/Patient/p1']])), false);
  // No criterion: the generic plan would guess LIMIT $n at a tenth of the table.
  assert.equal(hasValueFreePlan(parse('Observation', [])), false);
  // An access-policy filter carries criteria of any kind.
  assert.equal(hasValueFreePlan({ ...parse('Observation', [['patient', 'Patient/p1']]), restrict: [[]] }), false);
});

test('a reference to one of the most common targets is planned with its values', () => {
  const targets = common('org-big');
  assert.equal(hasValueFreePlan(parse('Patient', [['general-practitioner', 'Organization/org-big']]), targets), false);
  assert.equal(hasValueFreePlan(parse('Patient', [['general-practitioner', 'org-big']]), targets), false);
  assert.equal(hasValueFreePlan(parse('Patient', [['general-practitioner', 'Organization/org-small']]), targets), true);
  const compartment = { ...parse('Observation', []), compartment: { compartment: 'Patient', id: 'org-big', params: ['subject'] } };
  assert.equal(hasValueFreePlan(compartment, targets), false);
});

test('compiled pages and include rounds carry the flag; the _has-last page never does', () => {
  assert.equal(compileSearch(parse('Observation', [['patient', 'Patient/p1']]), 'default').stablePlan, true);
  assert.equal(compileSearch(parse('Observation', [['patient', 'Patient/p1']]), 'default', { commonTargets: common('p1') }).stablePlan, undefined);
  assert.equal(compileSearch(parse('Observation', [['code', '8867-4']]), 'default').stablePlan, undefined);
  const forward = parseInclude('_include', 'Observation:patient', registry, () => true);
  const reverse = parseInclude('_revinclude', 'Observation:patient', registry, () => true);
  const o = { tenant: 'default', registry, readable: null, exclude: [], limit: 10 };
  const sources = new Map([['Observation', ['o1']], ['Patient', ['p1']]]);
  assert.equal(compileIncludeRound([forward], sources, o)?.stablePlan, true);
  assert.equal(compileIncludeRound([reverse], sources, o)?.stablePlan, true);
  // Reverse from a common target: its referrers are many, as in a page naming it.
  assert.equal(compileIncludeRound([reverse], sources, { ...o, commonTargets: common('p1') })?.stablePlan, undefined);
  // Forward from it: the rows read are its own references, few whatever it is.
  assert.equal(compileIncludeRound([forward], sources, { ...o, commonTargets: common('o1') })?.stablePlan, true);
});
