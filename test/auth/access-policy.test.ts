import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hiddenElements, maskJson, parseRoleDefinition, requirePolicy, resolvePolicyForTest, restrictionFor } from './access-policy-support.js';

const ok = () => undefined;
const cp = { paramsFor: (t: string) => (t === 'Observation' ? ['subject', 'patient', 'performer'] : []) };

describe('role definitions', () => {
  it('accepts criteria with or without the type prefix, and refuses a prefix of another type', () => {
    const r = parseRoleDefinition('clerk', { policies: [{ resourceType: 'Observation', interactions: ['read'], criteria: 'Observation?category=laboratory' }] }, ok);
    assert.equal(r.policies[0]!.criteria, 'category=laboratory');
    assert.throws(() => parseRoleDefinition('clerk', { policies: [{ resourceType: 'Observation', interactions: ['read'], criteria: 'Patient?name=x' }] }, ok), { code: 'AUTH_ROLE_INVALID' });
  });
  it('refuses bad names, interactions, compartments, hidden id/meta and hide with writes', () => {
    const bad = [
      ['Bad', {}],
      ['r', { policies: [{ resourceType: 'Patient', interactions: ['peek'] }] }],
      ['r', { policies: [{ resourceType: 'Patient', interactions: ['read'], compartment: 'Encounter/1' }] }],
      ['r', { policies: [{ resourceType: 'Patient', interactions: ['read'], hide: ['id'] }] }],
      ['r', { policies: [{ resourceType: 'Patient', interactions: ['read', 'update'], hide: ['telecom'] }] }],
      ['r', { policies: [{ resourceType: '*', interactions: ['read'], criteria: 'x=1' }] }],
    ] as const;
    for (const [name, body] of bad) assert.throws(() => parseRoleDefinition(name, body, ok), { code: 'AUTH_ROLE_INVALID' }, JSON.stringify(body));
  });
  it('refuses members it does not know instead of dropping them (a misspelt restriction would widen the policy)', () => {
    const misspelt = { policies: [{ resourceType: 'Observation', interactions: ['read'], critera: 'category=laboratory' }] };
    assert.throws(() => parseRoleDefinition('clerk', misspelt, ok), (e: Error & { code?: string }) => e.code === 'AUTH_ROLE_INVALID' && /critera/.test(e.message));
    assert.throws(() => parseRoleDefinition('clerk', { scopes: ['system/*.r'] }, ok), (e: Error & { code?: string }) => e.code === 'AUTH_ROLE_INVALID' && /scopes/.test(e.message));
    assert.throws(() => parseRoleDefinition('clerk', { breakGlass: 'yes' }, ok), { code: 'AUTH_ROLE_INVALID' });
    assert.throws(() => parseRoleDefinition('clerk', { name: 'other' }, ok), { code: 'AUTH_ROLE_INVALID' });
    // What GET answers round-trips through PUT.
    const role = parseRoleDefinition('clerk', { policies: [{ resourceType: 'Observation', interactions: ['read'], criteria: 'category=laboratory' }], breakGlass: true }, ok);
    assert.deepEqual(parseRoleDefinition('clerk', JSON.parse(JSON.stringify(role)), ok), role);
  });
  it('passes criteria to the checker (the search parser in the app)', () => {
    assert.throws(() => parseRoleDefinition('r', { policies: [{ resourceType: 'Patient', interactions: ['read'], criteria: 'a=1' }] }, () => {
      throw new Error('checked');
    }), /checked/);
  });
});

describe('decisions', () => {
  const ctx = resolvePolicyForTest([
    { resourceType: 'Observation', interactions: ['read', 'search'], criteria: 'category=laboratory' },
    { resourceType: 'Observation', interactions: ['search'], compartment: 'Patient/{patient}' },
    { resourceType: 'Patient', interactions: ['read'], hide: ['telecom'] },
  ], 'p9');
  it('ORs policies into groups, resolves the compartment to the token patient, denies what no policy grants', () => {
    // The compartment is ANY of its linking parameters: one OR-ed group each.
    assert.deepEqual(restrictionFor(ctx, 'Observation', 'search', cp), [
      [['category', 'laboratory']],
      [['subject', 'Patient/p9']],
      [['patient', 'Patient/p9']],
      [['performer', 'Patient/p9']],
    ]);
    assert.equal(restrictionFor(ctx, 'Patient', 'read', cp), undefined);
    assert.throws(() => requirePolicy(ctx, 'Observation', 'delete'), { code: 'AUTH_POLICY_DENIED' });
    assert.throws(() => restrictionFor(ctx, 'Encounter', 'read', cp), { code: 'AUTH_POLICY_DENIED' });
  });
  it('hides elements and labels the resource', () => {
    assert.deepEqual(hiddenElements(ctx, 'Patient'), ['telecom']);
    const masked = JSON.parse(maskJson(JSON.stringify({ resourceType: 'Patient', id: 'a', telecom: [{ value: '1' }], name: [] }), ['telecom']));
    assert.equal(masked.telecom, undefined);
    assert.deepEqual(masked.name, []);
    assert.equal(masked.meta.security[0].code, 'REDACTED');
    const same = JSON.stringify({ resourceType: 'Patient', id: 'b' });
    assert.equal(maskJson(same, ['telecom']), same);
  });
  it('break-glass lifts the policies', () => {
    const glass = resolvePolicyForTest([], 'p9', true);
    assert.equal(restrictionFor(glass, 'Encounter', 'read', cp), undefined);
  });
});
