import type { Clock, TenantId } from '../kernel/index.js';
import type { AuthAuditor, AuthEventName } from './auth-audit.js';
import { createDecoyHash, verifyPassword } from './passwords.js';
import type { ScryptCost } from './passwords.js';
import type { SourceThrottle } from './login-throttle.js';
import type { RecoveryCodeStore } from './recovery-codes.js';
import { verifyTotp } from './totp.js';
import { mustPassMfa } from './users.js';
import type { AppUser, LockoutPolicy, UserStore } from './users.js';

/**
 * Password and TOTP checks with lockout. Every outcome is audited; the caller
 * shows one generic message whatever the reason, so the page does not reveal
 * whether a username exists or is locked.
 */
export interface LoginDeps {
  users: UserStore;
  policy: LockoutPolicy;
  clock: Clock;
  audit: AuthAuditor;
  scryptCost?: ScryptCost;
  /** Backoff per source address, across accounts. */
  throttle?: SourceThrottle;
  /** One-time codes that stand in for a TOTP code; absent: none are accepted. */
  recoveryCodes?: RecoveryCodeStore;
}

export interface LoginMeta {
  tenant: TenantId;
  clientId: string;
  requestId: string;
  sourceIp?: string;
}

export function createLogin(deps: LoginDeps) {
  const { users, policy, clock } = deps;
  let decoy: Promise<string> | undefined;
  const audit = (meta: LoginMeta, event: AuthEventName, subject: string, outcome: 'success' | 'failure', outcomeCode?: string) =>
    deps.audit({
      tenant: meta.tenant,
      event,
      outcome,
      subject,
      clientId: meta.clientId,
      kind: 'user',
      requestId: meta.requestId,
      ...(meta.sourceIp ? { sourceIp: meta.sourceIp } : {}),
      ...(outcomeCode ? { outcomeCode } : {}),
    });
  // Spend the same scrypt time when there is no real hash to check.
  const burn = async (password: string) => {
    decoy ??= createDecoyHash(deps.scryptCost);
    await verifyPassword(password, await decoy);
  };

  // A throttled address is refused before any password work; the refusal counts as one more failure.
  const throttled = async (meta: LoginMeta, event: AuthEventName, subject: string): Promise<boolean> => {
    if (deps.throttle?.blockedUntil(meta.sourceIp) === undefined) return false;
    deps.throttle.failure(meta.sourceIp);
    await audit(meta, event, subject, 'failure', 'source-throttled');
    return true;
  };

  const fail = async (meta: LoginMeta, user: AppUser, reason: string): Promise<undefined> => {
    deps.throttle?.failure(meta.sourceIp);
    const { lockedUntil } = await users.recordFailure(meta.tenant, user.userId, clock.now(), policy);
    await audit(meta, 'login', user.userId, 'failure', reason);
    if (lockedUntil) await audit(meta, 'lockout', user.userId, 'failure', `locked-until:${lockedUntil.toISOString()}`);
    return undefined;
  };

  /** The current account when it may try a second factor now (audited refusal otherwise). */
  const open = async (meta: LoginMeta, event: AuthEventName, user: AppUser): Promise<AppUser | undefined> => {
    if (await throttled(meta, event, user.userId)) return undefined;
    const fresh = await users.get(meta.tenant, user.userId);
    if (!fresh || fresh.disabled || (fresh.lockedUntil && fresh.lockedUntil > clock.now())) {
      await audit(meta, event, user.userId, 'failure', 'locked');
      return undefined;
    }
    return fresh;
  };

  /** Throttle, lock and code checks shared by the MFA step and enrolment; failures count towards the lockout. */
  const checkCode = async (meta: LoginMeta, event: AuthEventName, user: AppUser, secretOf: () => Promise<string | undefined>, code: string) => {
    const fresh = await open(meta, event, user);
    if (!fresh) return undefined;
    const secret = await secretOf();
    const step = secret === undefined ? undefined : verifyTotp(secret, code.trim(), clock.now());
    if (step === undefined) await fail(meta, fresh, 'bad-totp');
    return step;
  };

  return {
    async password(meta: LoginMeta, username: string, password: string): Promise<AppUser | undefined> {
      if (await throttled(meta, 'login', 'unknown-user')) return undefined;
      const user = await users.byUsername(meta.tenant, username);
      if (!user || user.disabled) {
        deps.throttle?.failure(meta.sourceIp);
        await burn(password);
        await audit(meta, 'login', user?.userId ?? 'unknown-user', 'failure', user ? 'disabled' : 'unknown-user');
        return undefined;
      }
      if (user.lockedUntil && user.lockedUntil > clock.now()) {
        deps.throttle?.failure(meta.sourceIp);
        await burn(password);
        await audit(meta, 'login', user.userId, 'failure', 'locked');
        return undefined;
      }
      if (!(await verifyPassword(password, user.passwordHash))) return fail(meta, user, 'bad-password');
      await users.recordSuccess(meta.tenant, user.userId);
      await audit(meta, 'login', user.userId, 'success');
      return user;
    },
    /** MFA is required for admin roles, and for anyone who enrolled a TOTP authenticator. */
    needsMfa: (user: AppUser) => mustPassMfa(user, false),
    async totp(meta: LoginMeta, user: AppUser, code: string): Promise<boolean> {
      const step = await checkCode(meta, 'mfa', user, () => users.totpSecret(meta.tenant, user.userId), code);
      if (step === undefined) return false;
      if (!(await users.consumeTotpStep(meta.tenant, user.userId, step))) {
        await fail(meta, user, 'totp-replay');
        return false;
      }
      await audit(meta, 'mfa', user.userId, 'success');
      return true;
    },
    /**
     * A recovery code in place of the TOTP code at the MFA step: accepted once,
     * under the same lockout and per-address backoff; a wrong one counts as a
     * failed code. Use is audited (`auth.mfa-recovery-used`, with how many are left); the code never is.
     */
    async recovery(meta: LoginMeta, user: AppUser, code: string): Promise<boolean> {
      const fresh = await open(meta, 'mfa-recovery-used', user);
      if (!fresh) return false;
      // Only while the account has an authenticator: the codes belong to it (an admin reset removes both).
      const used = fresh.hasTotp && deps.recoveryCodes ? await deps.recoveryCodes.consume(meta.tenant, fresh.userId, code) : { ok: false as const };
      if (!used.ok) {
        await fail(meta, fresh, 'bad-recovery-code');
        await audit(meta, 'mfa-recovery-used', fresh.userId, 'failure', 'bad-recovery-code');
        return false;
      }
      await audit(meta, 'mfa-recovery-used', fresh.userId, 'success', `remaining=${used.remaining}`);
      return true;
    },
    /**
     * The code typed at enrolment, checked against the secret being offered,
     * under the same per-account lockout and per-address backoff as the MFA step.
     * Returns the time step (stored as used), or undefined.
     */
    enrolmentCode: (meta: LoginMeta, user: AppUser, secret: string, code: string): Promise<number | undefined> =>
      checkCode(meta, 'mfa-enrol', user, async () => secret, code),
  };
}

export type Login = ReturnType<typeof createLogin>;
