import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HavenError } from '../../src/kernel/errors.js';
import { reasonOf } from '../../src/hl7v2/ingest/process.js';

test('a validation failure is reported by kind and location, without the value (the error column is not encrypted)', () => {
  const err = new HavenError('unprocessable', 'VALIDATION_FAILED', "Value '1980-13-99' is not a valid date", {
    issues: [{ severity: 'error', code: 'value', diagnostics: "Value '1980-13-99' is not a valid date", expression: ['Bundle.entry[0].resource.birthDate'] }],
  });
  const reason = reasonOf(err);
  assert.doesNotMatch(reason, /1980/);
  assert.match(reason, /^VALIDATION_FAILED: .*value at Bundle\.entry\[0\]\.resource\.birthDate/);
});

test('other reasons are kept, with any NUL written as \\0 so that the row can be stored', () => {
  assert.equal(reasonOf(new HavenError('unprocessable', 'HL7_CONVERSION_FAILED', 'MRG-1 (retired patient identifier) is empty')), 'HL7_CONVERSION_FAILED: MRG-1 (retired patient identifier) is empty');
  assert.equal(reasonOf(new HavenError('unprocessable', 'X', 'a\u0000b')), 'X: a\\0b');
});
