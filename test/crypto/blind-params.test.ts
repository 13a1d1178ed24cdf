import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/index.js';
import { BLIND_TAG_BYTES, blindTag, taggerFor } from '../../src/crypto/index.js';
import { blindDomain, parseProtectedParams } from '../../src/search/index.js';

test('HAVEN_BLIND_INDEX_PARAMS: default, Type.code, code, none', () => {
  const d = parseProtectedParams('default');
  assert.ok(d.isProtected('Patient', 'family'));
  assert.ok(d.isProtected('Patient', 'identifier:of-type'));
  assert.ok(d.isProtected('Encounter', 'identifier'));
  assert.ok(!d.isProtected('Practitioner', 'name'));
  assert.ok(d.isProtected('Coverage', 'subscriber-id') && d.isProtected('Device', 'udi-carrier'));
  assert.ok(!d.isProtected('Patient', 'birthdate'));
  assert.ok(!d.isProtected('Observation', 'component-code-value-quantity$0'));
  const more = parseProtectedParams('default, Practitioner.name,subscriber-id');
  assert.ok(more.isProtected('Practitioner', 'name') && more.isProtected('Coverage', 'subscriber-id') && more.isProtected('Patient', 'given'));
  assert.ok(!more.isProtected('Organization', 'name'));
  assert.equal(parseProtectedParams('none').entries().length, 0);
  assert.throws(() => parseProtectedParams('Patient.Name'));
  assert.equal(loadConfig({}).kms.blindIndexParams, 'default');
  assert.equal(loadConfig({ HAVEN_BLIND_INDEX_PARAMS: 'default,Practitioner.name' }).kms.blindIndexParams, 'default,Practitioner.name');
  assert.throws(() => loadConfig({ HAVEN_BLIND_INDEX_PARAMS: 'Patient.name;drop' }), /HAVEN_BLIND_INDEX_PARAMS/);
});

test('tags: keyed HMAC-SHA-256, 16 bytes, separated by form, domain and key', () => {
  const key = randomBytes(32);
  const t = blindTag(key, 'prefix', 'name', 'smi');
  const full = createHmac('sha256', key).update('haven-bi1\u0000prefix\u0000name\u0000smi').digest();
  assert.equal(t, `\\x${full.subarray(0, BLIND_TAG_BYTES).toString('hex')}`);
  assert.equal(taggerFor(key)('prefix', 'name', 'smi'), t);
  assert.notEqual(blindTag(key, 'exact', 'name', 'smi'), t);
  assert.notEqual(blindTag(key, 'prefix', 'address', 'smi'), t);
  assert.notEqual(blindTag(randomBytes(32), 'prefix', 'name', 'smi'), t);
  assert.equal(blindDomain('family'), blindDomain('name'));
  assert.equal(blindDomain('address-city'), 'address');
  assert.notEqual(blindDomain('phone'), blindDomain('identifier'));
});
