import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CARE_DATE_PARAMS } from '../../src/fhir/care-dates.js';
import { loadCoreDefinitions } from '../../src/fhir/definitions.js';
import { fhir } from './support.js';

test('every care-date parameter is an R4 date parameter of its type, and its type is in the Patient compartment', () => {
  const { registry } = fhir();
  const compartment = loadCoreDefinitions().compartments['Patient'] ?? {};
  for (const [type, code] of Object.entries(CARE_DATE_PARAMS)) {
    assert.equal(registry.get(type, code)?.type, 'date', `${type}.${code}`);
    assert.ok((compartment[type] ?? []).length > 0, `${type} is in the Patient compartment`);
  }
  assert.ok(Object.keys(CARE_DATE_PARAMS).length >= 40);
});
