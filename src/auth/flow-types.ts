import type { Clock, TenantId } from '../kernel/index.js';
import type { AuthAuditor, AuthEventName } from './auth-audit.js';
import type { AuthRequestStore, PendingAuthorization } from './auth-requests.js';
import type { AuthorizeDeps } from './authorize.js';
import type { GrantStore } from './grants.js';
import type { Federation } from './federation.js';
import type { Login } from './login.js';
import type { RecoveryCodeStore } from './recovery-codes.js';
import type { Session, SessionStore } from './sessions.js';
import type { TotpEnrolmentStore } from './totp-enrolment.js';
import type { AppUser, UserStore } from './users.js';

/** What the sign-in flow (flow.ts, flow-federated.ts) works with: its dependencies, page models and results. */
export interface FlowDeps {
  tenant: TenantId;
  clock: Clock;
  fhirBase: string;
  sessions: SessionStore;
  requests: AuthRequestStore;
  users: UserStore;
  login: Login;
  grants: GrantStore;
  authorize: AuthorizeDeps;
  audit: AuthAuditor;
  patientExists(id: string): Promise<boolean>;
  /** The tenant requires MFA of every user, not only of admin roles (tenant-settings.ts); absent: admins only. */
  mfaRequired?(): Promise<boolean>;
  /** Lifetime of an offline_access grant (refresh tokens). */
  offlineLifetimeMs: number;
  accessTokenTtlSeconds: number;
  /** External OpenID providers (one sign-in button each); empty or absent when none is configured. */
  federations?: readonly Federation[];
  /** Secrets offered at TOTP enrolment, bound to the half-signed-in session. */
  enrolments: TotpEnrolmentStore;
  /** One-time recovery codes, issued at enrolment. */
  recoveryCodes: RecoveryCodeStore;
}

export interface FlowMeta {
  requestId: string;
  sourceIp?: string;
}

interface PageBase {
  request: string;
  csrf: string;
  clientName: string;
  error?: string;
  /** The external providers' sign-in buttons (id and label), when federation is configured. */
  federation?: Array<{ id: string; name: string }>;
  /** Origins this page's forms end up at after a redirect (the page's CSP form-action must allow them). */
  formTargets?: string[];
}
export type Page =
  | (PageBase & { step: 'login' | 'mfa' | 'patient' })
  | (PageBase & { step: 'enrol'; username: string; secret: string; uri: string })
  | (PageBase & { step: 'consent'; username: string; scopes: string[]; patient?: string })
  | { step: 'error'; message: string }
  /** Shown once, right after enrolment: the recovery codes, and the way on to the next step. */
  | { step: 'recovery-codes'; codes: string[]; clientName: string; next: string };

export type Step = Exclude<Page['step'], 'error' | 'recovery-codes'>;
export type FlowResult = { kind: 'redirect'; location: string; cookie?: string } | { kind: 'page'; page: Page; status: number; cookie?: string };
export type Form = Record<string, string[] | undefined>;

export interface Context {
  session: Session;
  pending: PendingAuthorization;
  user?: AppUser;
  request: string;
  /** The tenant requires MFA of every user (read when a user is signed in). */
  mfaRequired?: boolean;
}

/** Helpers the step handlers share (flow.ts and flow-federated.ts). */
export interface FlowCore {
  deps: FlowDeps;
  load(request: string, cookie: string | undefined): Promise<Context | undefined>;
  event(meta: FlowMeta, ctx: Context, name: AuthEventName, outcome: 'success' | 'failure', extra?: { outcomeCode?: string; patient?: string }): Promise<void>;
  guard(request: string, cookie: string | undefined, form: Form | undefined, step: Step): Promise<{ ctx: Context; fail?: undefined } | { ctx?: undefined; fail: FlowResult }>;
  /** Session login after a verified first factor; the pending requests follow the new session id. */
  signIn(ctx: Context, user: AppUser, mfaDone: boolean): Promise<FlowResult>;
}

export const flowUrl = (request: string) => `/auth/flow?request=${encodeURIComponent(request)}`;
export const errorPage = (message: string, status: number): FlowResult => ({ kind: 'page', page: { step: 'error', message }, status });
export const first = (form: Form, name: string) => form[name]?.[0] ?? '';

