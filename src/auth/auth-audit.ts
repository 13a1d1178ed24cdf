import type { AuditedContext, AuditResourceRef } from '../audit/index.js';
import type { TenantId } from '../kernel/index.js';

/** Authorization-server decisions, each one audit entry (action `login`, operation `auth.<event>`). */
export type AuthEventName =
  | 'login'
  | 'lockout'
  | 'mfa'
  | 'mfa-enrol'
  | 'mfa-reset'
  | 'mfa-recovery-issued'
  | 'mfa-recovery-used'
  | 'logout'
  | 'consent'
  | 'patient-selected'
  | 'code-issued'
  | 'code-reuse'
  | 'token-issued'
  | 'token-refreshed'
  | 'refresh-reuse'
  | 'token-revoked'
  | 'introspect'
  | 'launch-registered'
  | 'user-created'
  | 'user-disabled'
  | 'user-enabled'
  | 'user-updated'
  | 'client-registered'
  | 'role-changed'
  | 'settings-changed'
  | 'break-glass'
  | 'alert-reviewed'
  | 'elevation-requested'
  | 'elevation-approved'
  | 'elevation-denied';

export interface AuthEvent {
  tenant: TenantId;
  event: AuthEventName;
  outcome: 'success' | 'failure';
  /** Haven error code or a short reason (`bad-password`, `locked`, …); never a secret. */
  outcomeCode?: string;
  /** User id, or the client id for client-only events. */
  subject: string;
  clientId: string;
  kind: 'user' | 'client';
  requestId: string;
  sourceIp?: string;
  /** `Patient/{id}` when the decision concerns a patient's data. */
  patient?: string;
}

/** Awaited: when the entry cannot be made durable the decision fails (fail closed). */
export type AuthAuditor = (event: AuthEvent) => Promise<void>;

interface Recorder {
  record(ctx: AuditedContext, facts: Array<{ action: 'login'; outcome: 'success' | 'failure'; outcomeCode?: string; resources: AuditResourceRef[] }>): Promise<void>;
}

export function createAuthAuditor(recorder: Recorder | undefined): AuthAuditor {
  if (!recorder) return async () => undefined; // audit switched off (test builds only)
  return async (e) => {
    const ctx: AuditedContext = {
      tenant: e.tenant,
      requestId: e.requestId,
      ...(e.sourceIp ? { sourceIp: e.sourceIp } : {}),
      principal: { subject: e.subject, clientId: e.clientId, kind: e.kind, scopes: [] },
      audit: { action: 'login', operation: `auth.${e.event}`, resources: [], recorded: 0 },
    };
    const resources: AuditResourceRef[] = e.patient ? [{ type: 'Patient', id: e.patient.slice(8), patient: e.patient }] : [];
    await recorder.record(ctx, [{ action: 'login', outcome: e.outcome, ...(e.outcomeCode ? { outcomeCode: e.outcomeCode } : {}), resources }]);
  };
}
