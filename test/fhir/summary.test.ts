import assert from 'node:assert/strict';
import { test } from 'node:test';
import { operationOutcome } from '../../src/fhir/operation-outcome.js';
import { example, fhir } from './support.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

test('_summary=true keeps summary and mandatory elements, recursing into backbones', () => {
  const p = example('Patient-example.json');
  const s = fhir().applySummary(p, 'true') as Record<string, unknown>;
  assert.equal(s['id'], 'example');
  assert.ok(s['name'] && s['birthDate'] && s['identifier'] && s['managingOrganization']);
  assert.equal(s['text'], undefined);
  assert.equal(s['contact'], undefined, 'Patient.contact is not a summary element');
  assert.deepEqual((s['meta'] as { tag: unknown[] }).tag, [SUBSETTED]);
  assert.ok(p['text'], 'input unchanged');
  const o = fhir().applySummary(example('Observation-example.json'), 'true') as Record<string, unknown>;
  assert.ok(o['valueQuantity'] && o['code'] && o['status'] && o['effectiveDateTime']);
});

test('_summary=text and data', () => {
  const o = example('Observation-example.json');
  const t = fhir().applySummary(o, 'text') as Record<string, unknown>;
  assert.deepEqual(Object.keys(t).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'text']);
  const d = fhir().applySummary(o, 'data') as Record<string, unknown>;
  assert.equal(d['text'], undefined);
  assert.ok(d['valueQuantity']);
  assert.equal(fhir().applySummary(o, 'false'), o);
});

test('_elements keeps listed, mandatory, id and meta; choice names match', () => {
  const o = example('Observation-example.json');
  const e = fhir().applyElements(o, ['value', 'Observation.subject']) as Record<string, unknown>;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'subject', 'valueQuantity']);
  const meta = e['meta'] as { tag: unknown[]; lastUpdated?: string };
  assert.deepEqual(meta.tag, [SUBSETTED]);
});

test('operationOutcome puts the stable code in details.coding and keeps diagnostics', () => {
  const oo = operationOutcome([{ severity: 'error', code: 'invalid', diagnostics: 'Unknown search parameter: foo', details: 'SEARCH_UNKNOWN_PARAM', expression: ['foo'] }]);
  assert.deepEqual(oo, {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'invalid',
        details: { coding: [{ system: 'https://haven.health/fhir/error-code', code: 'SEARCH_UNKNOWN_PARAM' }], text: 'SEARCH_UNKNOWN_PARAM' },
        diagnostics: 'Unknown search parameter: foo',
        expression: ['foo'],
      },
    ],
  });
  assert.equal(operationOutcome([]).issue[0]?.severity, 'information');
});
