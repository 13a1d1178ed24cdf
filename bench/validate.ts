/**
 * Validation cost per resource on the write path: HL7's R4 Patient, Observation
 * and Encounter examples, after one warm-up pass (models, value sets and
 * invariants are built lazily on first use). Run: node dist/bench/validate.js
 */
import { createValidator } from '../src/fhir/validation/index.js';
import { loadExamples } from '../test/fhir/validation/example-files.js';

const TYPES = ['Patient', 'Observation', 'Encounter'];
const ROUNDS = 200;

const validator = createValidator();
const all = loadExamples();
const coldStart = performance.now();
for (const e of all) validator.validate(e.resource);
const coldMs = performance.now() - coldStart;

const results: Record<string, { count: number; avgMicros: number }> = {};
for (const type of TYPES) {
  const examples = all.filter((e) => e.resource.resourceType === type && !e.name.includes('#')).map((e) => e.resource);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) for (const r of examples) validator.validate(r);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / (ROUNDS * examples.length);
  results[type] = { count: examples.length, avgMicros: Math.round(micros) };
}
const warmStart = performance.now();
for (const e of all) validator.validate(e.resource);
const warmMs = performance.now() - warmStart;

console.log(JSON.stringify({ examples: all.length, firstPassMs: Math.round(coldMs), warmPassMs: Math.round(warmMs), perType: results }, null, 2));
