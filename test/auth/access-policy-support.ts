import { resolvePolicy } from '../../src/auth/access-policy.js';
import type { AccessPolicy } from '../../src/auth/index.js';
import { DEFAULT_TENANT, type RequestContext } from '../../src/kernel/index.js';

export { hiddenElements, maskJson, parseRoleDefinition, requirePolicy, restrictionFor } from '../../src/auth/index.js';

/** A request context whose principal carries resolved policies, as the resolver attaches them. */
export function resolvePolicyForTest(policies: AccessPolicy[], patient?: string, breakGlass = false): RequestContext {
  const access = {
    userId: 'u', roles: ['r'], policies: policies.map(resolvePolicy), canBreakGlass: false, approver: false,
    ...(breakGlass ? { breakGlass: { id: 'g', expiresAt: Date.now() + 60_000 } } : {}),
  };
  return { tenant: DEFAULT_TENANT, requestId: 't', principal: { subject: 'u', clientId: 'app', kind: 'user', scopes: [], access, ...(patient ? { patient } : {}) } } as RequestContext;
}
