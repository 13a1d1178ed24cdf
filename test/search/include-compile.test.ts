import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIncludeRound, parseInclude } from '../../src/search/index.js';
import { createTestRegistry } from './registry.js';

const registry = createTestRegistry();
const include = (value: string) => parseInclude('_include', value, registry, () => true);
const o = { tenant: 'default', registry, readable: null, exclude: [], limit: 10 };
const sources = new Map([['Observation', ['o1', 'o2']]]);
/** How many times the statement reads the sources' own reference rows (idx_reference_owner). */
const ownerReads = (sql: string) => sql.split('i.resource_id = ANY(').length - 1;

test('forward includes of one source type read its reference rows once, over all their parameters', () => {
  const round = compileIncludeRound([include('Observation:subject'), include('Observation:patient'), include('Observation:subject')], sources, o)!;
  assert.equal(ownerReads(round.sql), 1);
  const codes = round.params.find((v) => Array.isArray(v) && v.includes('subject'));
  assert.deepEqual(codes, ['subject', 'patient']);
  assert.equal(round.stablePlan, true);
});

test('a different target narrowing or source type keeps its own read', () => {
  const narrowed = compileIncludeRound([include('Observation:subject:Patient'), include('Observation:patient')], sources, o)!;
  assert.equal(ownerReads(narrowed.sql), 2);
  const twoTypes = compileIncludeRound([include('Observation:subject'), include('Encounter:patient')], new Map([...sources, ['Encounter', ['e1']]]), o)!;
  assert.equal(ownerReads(twoTypes.sql), 2);
  // A source type absent from the round adds nothing.
  const absent = compileIncludeRound([include('Observation:subject'), include('Encounter:patient')], sources, o)!;
  assert.equal(ownerReads(absent.sql), 1);
});
