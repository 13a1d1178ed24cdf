import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessFor } from '../../src/auth/index.js';
import type { Principal } from '../../src/kernel/index.js';

const client = (scopes: string[]): Principal => ({ subject: 'c', clientId: 'c', kind: 'client', scopes });
const user = (scopes: string[], patient?: string) => ({ subject: 'u', clientId: 'app', kind: 'user' as const, scopes, ...(patient ? { patient } : {}) });

describe('accessFor: system, user and patient scopes', () => {
  it('system/ scopes grant client tokens everything of the type, and nothing to user tokens', () => {
    assert.deepEqual(accessFor(client(['system/Observation.rs']), 'Observation', 'read'), { kind: 'all' });
    assert.throws(() => accessFor(client(['system/Observation.rs']), 'Patient', 'read'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
    assert.throws(() => accessFor(user(['system/*.cruds']), 'Patient', 'read'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
  });

  it('user/ scopes grant user tokens only; v1 and v2 forms alike', () => {
    assert.deepEqual(accessFor(user(['user/Patient.read']), 'Patient', 'search'), { kind: 'all' });
    assert.deepEqual(accessFor(user(['user/*.cruds']), 'Patient', 'update'), { kind: 'all' });
    assert.throws(() => accessFor(client(['user/*.cruds']), 'Patient', 'read'));
  });

  it('patient/ scopes grant the compartment, only with a patient in context', () => {
    assert.deepEqual(accessFor(user(['patient/Observation.rs'], 'p1'), 'Observation', 'read'), { kind: 'compartment', patient: 'p1' });
    assert.deepEqual(accessFor(user(['patient/*.read'], 'p1'), 'Condition', 'search'), { kind: 'compartment', patient: 'p1' });
    assert.throws(() => accessFor(user(['patient/Observation.rs']), 'Observation', 'read'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
  });

  it('patient/ scopes grant writes in the compartment when they name the interaction; never Patient create or delete', () => {
    assert.deepEqual(accessFor(user(['patient/Observation.cruds'], 'p1'), 'Observation', 'create'), { kind: 'compartment', patient: 'p1' });
    assert.deepEqual(accessFor(user(['patient/Observation.write'], 'p1'), 'Observation', 'delete'), { kind: 'compartment', patient: 'p1' });
    assert.throws(() => accessFor(user(['patient/Observation.rs'], 'p1'), 'Observation', 'create'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
    assert.throws(() => accessFor(user(['patient/Observation.cru'], 'p1'), 'Observation', 'delete'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
    assert.throws(() => accessFor(user(['patient/Observation.cruds']), 'Observation', 'create'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
    assert.deepEqual(accessFor(user(['patient/Patient.u'], 'p1'), 'Patient', 'update'), { kind: 'compartment', patient: 'p1' });
    assert.throws(() => accessFor(user(['patient/*.cruds'], 'p1'), 'Patient', 'create'), /never create or delete a Patient/);
    assert.throws(() => accessFor(user(['patient/*.cruds'], 'p1'), 'Patient', 'delete'), /never create or delete a Patient/);
    assert.throws(() => accessFor(user(['patient/Observation.cruds?category=laboratory'], 'p1'), 'Observation', 'create'), /granular scopes grant read and search only/);
  });

  it('an unfiltered user/ scope beside a patient/ one is not narrowed', () => {
    assert.deepEqual(accessFor(user(['patient/Patient.rs', 'user/Patient.rs'], 'p1'), 'Patient', 'read'), { kind: 'all' });
  });

  it('granular scopes grant read and search narrowed by their criteria, OR-ed; an unfiltered one widens to all', () => {
    assert.deepEqual(accessFor(user(['patient/Observation.rs?category=laboratory'], 'p1'), 'Observation', 'search'), {
      kind: 'compartment', patient: 'p1', filters: [[['category', 'laboratory']]],
    });
    assert.deepEqual(accessFor(client(['system/Observation.rs?category=a', 'system/Observation.rs?category=b&status=final']), 'Observation', 'read'), {
      kind: 'all', filters: [[['category', 'a']], [['category', 'b'], ['status', 'final']]],
    });
    assert.deepEqual(accessFor(user(['patient/Observation.rs?category=laboratory', 'patient/Observation.rs'], 'p1'), 'Observation', 'read'), { kind: 'compartment', patient: 'p1' });
    assert.deepEqual(accessFor(client(['system/Observation.rs?category=a', 'system/Observation.rs']), 'Observation', 'read'), { kind: 'all' });
    assert.throws(() => accessFor(user(['patient/Observation.rs?category=laboratory']), 'Observation', 'search'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
    assert.throws(() => accessFor(client(['system/Observation.cruds?category=a']), 'Observation', 'update'), /granular scopes grant read and search only/);
    assert.throws(() => accessFor(client(['system/Observation.rs?category=a']), 'Condition', 'read'), { code: 'AUTH_SCOPE_INSUFFICIENT' });
  });
});
