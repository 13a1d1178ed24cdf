import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeFhirRequest } from '../../src/audit/request-info.js';

const describe = (method: string, path: string) => describeFhirRequest(method, path.split('/').filter(Boolean));

test('requests below /fhir are classified as the interaction the router runs', () => {
  assert.equal(describe('GET', 'Patient/p1')?.action, 'read');
  assert.equal(describe('GET', 'Patient')?.action, 'search');
  assert.equal(describe('POST', 'Patient/_search')?.action, 'search');
  assert.equal(describe('GET', 'Patient/p1/_history/2')?.action, 'vread');
  assert.equal(describe('GET', 'Patient/p1/_history')?.action, 'history');
  assert.equal(describe('PUT', 'Patient/p1')?.action, 'update');
  assert.equal(describe('GET', 'Patient/p1/$everything')?.action, 'operation');
  assert.equal(describe('GET', 'metadata'), undefined);
});

test('a compartment search is a search focused on the compartment owner, not a read of it', () => {
  for (const [method, path] of [
    ['GET', 'Encounter/e1/Observation'],
    ['GET', 'Patient/p1/*'],
    ['POST', 'Patient/p1/Observation/_search'],
  ] as const) {
    const info = describeFhirRequest(method, path.split('/'));
    assert.equal(info?.action, 'search', `${method} ${path}`);
    assert.equal(info?.resources[0]?.type, path.split('/')[0]);
    assert.equal(info?.resources[0]?.id, path.split('/')[1]);
  }
  assert.equal(describe('GET', 'Patient/p1/*')?.resources[0]?.patient, 'Patient/p1', 'the patient compartment names its patient');
});
