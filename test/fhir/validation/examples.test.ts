import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { createValidator } from '../../../src/fhir/validation/index.js';
import { loadExamples } from './example-files.js';

const knownInvalid = JSON.parse(
  readFileSync(new URL('../../../../test/fhir/validation/known-invalid-examples.json', import.meta.url), 'utf8'),
) as Record<string, string>;

describe('validation: HL7 R4 examples', () => {
  it('accepts every example except the known-defective ones', () => {
    const validator = createValidator();
    const examples = loadExamples();
    // The package holds ~720 non-conformance examples plus their Bundle entries.
    assert.ok(examples.length > 1000, `only ${examples.length} examples found`);
    const rejected: Record<string, string> = {};
    for (const example of examples) {
      const issues = validator.validate(example.resource);
      if (issues.length > 0) rejected[example.name] = issues.map((i) => `${i.expression?.[0] ?? ''}: ${i.diagnostics}`).join('; ');
    }
    const unexpected = Object.keys(rejected).filter((name) => !(name in knownInvalid));
    assert.deepEqual(unexpected.map((name) => `${name} → ${rejected[name]}`), [], 'examples rejected but not listed as known-invalid');
    assert.deepEqual(Object.keys(rejected).sort(), Object.keys(knownInvalid).sort());
  });
});
