import type { Clock, TenantId } from '../kernel/index.js';
import type { BodyCodec, Db } from '../store/index.js';
import { createAppGrants } from './app-grants.js';
import { createAuthAuditor } from './auth-audit.js';
import type { AuthAuditor } from './auth-audit.js';
import { createAuthRequestStore } from './auth-requests.js';
import type { ClientAuthDeps } from './client-auth.js';
import type { ClientRegistry } from './clients.js';
import { createFlow } from './flow.js';
import { createFederation } from './federation.js';
import type { FederationSettings } from './federation.js';
import { createGrantStore } from './grants.js';
import { createTokenAdmin } from './introspect.js';
import { createLaunchStore } from './launch.js';
import { createLogin } from './login.js';
import { createSourceThrottle } from './login-throttle.js';
import type { ScryptCost } from './passwords.js';
import { createRecoveryCodeStore } from './recovery-codes.js';
import { createRevocations } from './revocations.js';
import { createSessionStore } from './sessions.js';
import { createSigningKeyStore } from './signing-keys.js';
import { createTenantSettings } from './tenant-settings.js';
import { createTotpEnrolmentStore } from './totp-enrolment.js';
import type { SigningKeyStore } from './signing-keys.js';
import { createUserStore, type Plane } from './users.js';
import type { TokenVerifier } from './verify-token.js';

/** Settings of the authorization server (docs/configuration.md). */
export interface IdentitySettings {
  accessTokenTtlSeconds: number;
  /** Per identity plane (docs/security/identity.md); absent: accessTokenTtlSeconds. */
  workforceAccessTokenTtlSeconds?: number | undefined;
  patientAccessTokenTtlSeconds?: number | undefined;
  sessionIdleMinutes: number;
  sessionMaxHours: number;
  loginMaxFailures: number;
  loginLockoutSeconds: number;
  /** Failed sign-in attempts from one address (15 min) before it is throttled; absent: 20. */
  loginIpMaxFailures?: number;
  offlineAccessDays: number;
}

export interface IdentityDeps {
  db: Db;
  tenant: TenantId;
  clock: Clock;
  /** Server base URL (issuer) and FHIR base URL (audience). */
  issuer: string;
  fhirBase: string;
  clients: ClientRegistry;
  accessKeys: SigningKeyStore;
  /** Seals TOTP secrets (the envelope codec; plaintext only in test builds). */
  codec: BodyCodec;
  recorder?: Parameters<typeof createAuthAuditor>[0];
  settings: IdentitySettings;
  patientExists(id: string): Promise<boolean>;
  scryptCost?: ScryptCost;
  /** External OpenID providers (federation), each with its callback path on this server; absent or empty when none is configured. */
  federations?: Array<Omit<FederationSettings, 'redirectUri'> & { callbackPath: string; allowHttp: boolean }>;
}

/**
 * The SMART App Launch authorization server, wired from its parts. The
 * verifier is built by the caller (it needs `revocations` from here), so it
 * is attached with `withVerifier`.
 */
export function createIdentity(deps: IdentityDeps) {
  const { db, tenant, clock, settings } = deps;
  // The identity planes have their own access-token lifetimes; each defaults to HAVEN_ACCESS_TOKEN_TTL.
  const accessTokenTtl = (plane: Plane): number => (plane === 'patient' ? settings.patientAccessTokenTtlSeconds : settings.workforceAccessTokenTtlSeconds) ?? settings.accessTokenTtlSeconds;
  const audit: AuthAuditor = createAuthAuditor(deps.recorder);
  const revocations = createRevocations({ db, clock });
  // Session time-outs per tenant; the configured values are the defaults (docs/security/identity.md, Sessions).
  // MFA for every user is off by default (admin roles always need it): a tenant turns it on.
  const tenantSettings = createTenantSettings({ db, clock, defaults: { sessionIdleMinutes: settings.sessionIdleMinutes, sessionMaxHours: settings.sessionMaxHours, mfaRequired: false } });
  const users = createUserStore({ db, codec: deps.codec, ...(deps.scryptCost ? { scryptCost: deps.scryptCost } : {}) });
  const grants = createGrantStore({ db, revocations });
  const sessions = createSessionStore({ db, policy: (t) => tenantSettings.sessionPolicy(t) });
  const recoveryCodes = createRecoveryCodeStore({ db });
  const launches = createLaunchStore({ db });
  const idTokenKeys = createSigningKeyStore({ db, clock, alg: 'RS256', purpose: 'id-token' });
  const clientAuth: ClientAuthDeps = { db, clients: deps.clients, clock, limits: { skew: 30, maxLifetime: 300 } };
  const login = createLogin({
    users,
    clock,
    audit,
    policy: { maxFailures: settings.loginMaxFailures, lockSeconds: settings.loginLockoutSeconds },
    recoveryCodes,
    throttle: createSourceThrottle({ maxFailures: settings.loginIpMaxFailures ?? 20, windowMs: 15 * 60_000, blockMs: settings.loginLockoutSeconds * 1000 }, clock),
    ...(deps.scryptCost ? { scryptCost: deps.scryptCost } : {}),
  });
  const flow = createFlow({
    tenant,
    clock,
    fhirBase: deps.fhirBase,
    sessions,
    requests: createAuthRequestStore({ db }),
    users,
    login,
    grants,
    authorize: { clients: deps.clients, launches, fhirBase: deps.fhirBase },
    audit,
    patientExists: deps.patientExists,
    mfaRequired: () => tenantSettings.mfaRequired(tenant),
    offlineLifetimeMs: settings.offlineAccessDays * 86_400_000,
    // Sets how long a grant without refresh tokens lives (its code's minute, then one access token): the longer plane's covers both.
    accessTokenTtlSeconds: Math.max(accessTokenTtl('workforce'), accessTokenTtl('patient')),
    federations: (deps.federations ?? []).map(({ callbackPath, allowHttp, ...settings }) =>
      createFederation({ ...settings, redirectUri: `${deps.issuer}${callbackPath}` }, { users, allowHttp }),
    ),
    enrolments: createTotpEnrolmentStore({ db, codec: deps.codec }),
    recoveryCodes,
  });
  const appGrants = createAppGrants({
    clientAuth,
    grants,
    users,
    accessKeys: deps.accessKeys,
    idTokenKeys,
    issuer: deps.issuer,
    audience: deps.fhirBase,
    accessTokenTtlSeconds: accessTokenTtl,
    audit,
  });
  return {
    audit,
    tenantSettings,
    revocations,
    users,
    recoveryCodes,
    sessions,
    launches,
    grants,
    idTokenKeys,
    flow,
    appGrants,
    withVerifier: (verifier: TokenVerifier) => createTokenAdmin({ clientAuth, verifier, grants, revocations, audit, issuer: deps.issuer }),
  };
}

export type Identity = ReturnType<typeof createIdentity>;
