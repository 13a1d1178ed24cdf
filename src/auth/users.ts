import { randomUUID } from 'node:crypto';
import { HavenError } from '../kernel/index.js';
import type { TenantId } from '../kernel/index.js';
import type { BodyCodec, Queryable } from '../store/index.js';
import { DEFAULT_SCRYPT_COST, hashPassword } from './passwords.js';
import type { ScryptCost } from './passwords.js';
import { newTotpSecret, totpUri } from './totp.js';

/** Workforce users and patients are separate identity planes; machine clients are the third. */
export type Plane = 'workforce' | 'patient';

export interface AppUser {
  tenant: TenantId;
  userId: string;
  username: string;
  roles: string[];
  plane: Plane;
  /** `Patient/{id}` for the patient plane. */
  patient?: string;
  /**
   * The FHIR resource the user is (SMART `fhirUser`), relative: the Patient for the patient plane;
   * `Practitioner/{id}` or `PractitionerRole/{id}` for a linked workforce user (migration 036).
   */
  fhirUser?: string;
  hasTotp: boolean;
  /** Signs in through an external OpenID provider (no usable password). */
  federated: boolean;
  failedCount: number;
  lockedUntil?: Date;
  disabled: boolean;
  passwordHash: string;
}

export interface CreateUserInput {
  username: string;
  password: string;
  roles: string[];
  /** `Patient/{id}`: makes the user a patient-plane user. */
  patient?: string;
  /** `Practitioner/{id}` or `PractitionerRole/{id}`: the workforce user's FHIR resource. */
  fhirUser?: string;
  /** Enrol TOTP now (always done for admin roles). */
  totp?: boolean;
}

export interface UserStore {
  /** Creates a user; returns the otpauth:// URI once when TOTP was enrolled. */
  create(tenant: TenantId, input: CreateUserInput): Promise<{ user: AppUser; totpUri?: string }>;
  byUsername(tenant: TenantId, username: string): Promise<AppUser | undefined>;
  get(tenant: TenantId, userId: string): Promise<AppUser | undefined>;
  /** Counts a failed login; locks the account for a doubling period from the `maxFailures`-th failure on. */
  recordFailure(tenant: TenantId, userId: string, now: Date, policy: LockoutPolicy): Promise<{ lockedUntil?: Date }>;
  recordSuccess(tenant: TenantId, userId: string): Promise<void>;
  totpSecret(tenant: TenantId, userId: string): Promise<string | undefined>;
  /** Accepts a TOTP step once: false when this step (or a later one) was already used. */
  consumeTotpStep(tenant: TenantId, userId: string, step: number): Promise<boolean>;
  /**
   * Stores a newly enrolled TOTP secret, only if the user has none (an account
   * with an authenticator is never re-enrolled through sign-in), and records
   * `step` as used so the enrolment code cannot be replayed. False when the user already has one.
   */
  enrolTotp(tenant: TenantId, userId: string, secret: string, step: number): Promise<boolean>;
  /** Removes the user's authenticator and its recovery codes (admin reset): the next sign-in enrols a new one. False when the user is unknown. */
  resetTotp(tenant: TenantId, userId: string): Promise<boolean>;
  /**
   * Links a workforce user to `Practitioner/{id}` or `PractitionerRole/{id}`, or unlinks (null). False when no
   * workforce user has this id (patients keep their Patient link).
   */
  setFhirUser(tenant: TenantId, userId: string, fhirUser: string | null): Promise<boolean>;
  /** Disables or re-enables sign-in (and with it every use of the account); false when the user is unknown. */
  setDisabled(tenant: TenantId, userId: string, disabled: boolean): Promise<boolean>;
  /** Just-in-time provisioning of a federated workforce user; roles follow the provider on every sign-in. */
  provisionFederated(tenant: TenantId, input: FederatedUserInput): Promise<AppUser>;
}

export interface FederatedUserInput {
  issuer: string;
  subject: string;
  username: string;
  roles: string[];
  /** Appended (`name@qualifier`) when the username is taken by another user; names the provider. */
  qualifier: string;
}

export interface LockoutPolicy {
  maxFailures: number;
  /** First lock duration; doubles with each further failure, capped at one day. */
  lockSeconds: number;
}

/** Roles whose holders must pass MFA (DESIGN §5: admin actions need MFA). */
export function isAdminRole(role: string): boolean {
  return role === 'admin' || role.endsWith('-admin');
}

/** Who must pass MFA at sign-in: admin roles, anyone who enrolled an authenticator, and everyone where the tenant requires it. */
export function mustPassMfa(user: Pick<AppUser, 'hasTotp' | 'roles'>, tenantRequiresMfa: boolean): boolean {
  return tenantRequiresMfa || user.hasTotp || user.roles.some(isAdminRole);
}

const USERNAME = /^[A-Za-z0-9._@+-]{1,128}$/;
const ROLE = /^[a-z][a-z0-9-]{0,63}$/;
const PATIENT_REF = /^Patient\/[A-Za-z0-9\-.]{1,64}$/;
// SMART allows Practitioner, Patient, Person, RelatedPerson and PractitionerRole as fhirUser; the workforce
// plane is clinical staff, so only the first and last of these (patients are linked through `patient`).
const WORKFORCE_REF = /^(Practitioner|PractitionerRole)\/[A-Za-z0-9\-.]{1,64}$/;

/**
 * Checks a workforce fhirUser link (`Practitioner/{id}` or `PractitionerRole/{id}` with a FHIR id) and returns
 * it split; throws AUTH_USER_INVALID naming the field otherwise.
 */
export function parseWorkforceFhirUser(value: unknown): { type: 'Practitioner' | 'PractitionerRole'; id: string } {
  if (typeof value !== 'string' || !WORKFORCE_REF.test(value)) {
    const hint = typeof value === 'string' && value.startsWith('Patient/') ? '; patients are linked with `patient` at creation' : '';
    throw invalid(`fhirUser must be Practitioner/{id} or PractitionerRole/{id} with a FHIR id ([A-Za-z0-9-.]{1,64})${hint}`, 'fhirUser');
  }
  const slash = value.indexOf('/');
  return { type: value.slice(0, slash) as 'Practitioner' | 'PractitionerRole', id: value.slice(slash + 1) };
}

interface UserRow {
  tenant_id: string;
  user_id: string;
  username: string;
  password_hash: string;
  roles: string[];
  plane: Plane;
  patient_id: string | null;
  workforce_fhir_user: string | null;
  has_totp: boolean;
  federated: boolean;
  failed_count: number;
  locked_until: Date | null;
  disabled: boolean;
}

const columns =
  'tenant_id, user_id, username, password_hash, roles, plane, patient_id, workforce_fhir_user, totp_secret IS NOT NULL AS has_totp, external_issuer IS NOT NULL AS federated, failed_count, locked_until, disabled';

function toUser(r: UserRow): AppUser {
  return {
    tenant: r.tenant_id as TenantId,
    userId: r.user_id,
    username: r.username,
    roles: r.roles,
    plane: r.plane,
    ...(r.patient_id ? { patient: `Patient/${r.patient_id}`, fhirUser: `Patient/${r.patient_id}` } : {}),
    ...(r.workforce_fhir_user ? { fhirUser: r.workforce_fhir_user } : {}),
    hasTotp: r.has_totp,
    federated: r.federated,
    failedCount: r.failed_count,
    ...(r.locked_until ? { lockedUntil: r.locked_until } : {}),
    disabled: r.disabled,
    passwordHash: r.password_hash,
  };
}

function invalid(message: string, field: string): HavenError {
  return new HavenError('incorrect', 'AUTH_USER_INVALID', message, { expression: [field] });
}

function validate(input: CreateUserInput): void {
  if (!USERNAME.test(input.username)) throw invalid('username must match [A-Za-z0-9._@+-]{1,128}', 'username');
  if (input.password.length < 12) throw invalid('password must have at least 12 characters', 'password');
  if (input.roles.length === 0 || !input.roles.every((r) => ROLE.test(r))) throw invalid('at least one role [a-z][a-z0-9-]* is required', 'roles');
  if (input.patient !== undefined && !PATIENT_REF.test(input.patient)) throw invalid('patient must be Patient/{id}', 'patient');
  if (input.patient !== undefined && input.roles.some(isAdminRole)) throw invalid('a patient-plane user cannot hold an admin role', 'roles');
  if (input.fhirUser !== undefined) {
    if (input.patient !== undefined) throw invalid('a patient-plane user is its Patient: fhirUser (Practitioner/PractitionerRole) is for workforce users only', 'fhirUser');
    parseWorkforceFhirUser(input.fhirUser);
  }
}

// The TOTP secret is sealed with the tenant's data key; the user id is the associated data.
const totpIdentity = (tenant: string, userId: string) => ({ tenant, resourceType: 'haven-user-totp', id: userId, versionId: 1 });

export function createUserStore(deps: { db: Queryable; codec: BodyCodec; scryptCost?: ScryptCost }): UserStore {
  const { db, codec } = deps;
  const one = async (sql: string, params: unknown[]) => {
    const row = (await db.query<UserRow>(sql, params)).rows[0];
    return row && toUser(row);
  };
  const byUsername = (tenant: TenantId, username: string) =>
    one(`SELECT ${columns} FROM app_user WHERE tenant_id = $1 AND lower(username) = lower($2)`, [tenant, username]);
  return {
    async create(tenant, input) {
      validate(input);
      const userId = randomUUID();
      const enrol = input.totp === true || input.roles.some(isAdminRole);
      const secret = enrol ? newTotpSecret() : undefined;
      const sealed = secret ? await codec.encode(totpIdentity(tenant, userId), secret) : null;
      const hash = await hashPassword(input.password, deps.scryptCost ?? DEFAULT_SCRYPT_COST);
      const row = await db.query<UserRow>(
        `INSERT INTO app_user (tenant_id, user_id, username, password_hash, roles, plane, patient_id, totp_secret, workforce_fhir_user)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING ${columns}`,
        [tenant, userId, input.username, hash, input.roles, input.patient ? 'patient' : 'workforce', input.patient?.slice(8) ?? null, sealed, input.fhirUser ?? null],
      );
      if (!row.rows[0]) throw new HavenError('conflict', 'AUTH_USER_EXISTS', `User ${input.username} already exists`);
      return { user: toUser(row.rows[0]), ...(secret ? { totpUri: totpUri(secret, input.username) } : {}) };
    },
    byUsername,
    get: (tenant, userId) => one(`SELECT ${columns} FROM app_user WHERE tenant_id = $1 AND user_id = $2`, [tenant, userId]),
    async recordFailure(tenant, userId, now, policy) {
      // One statement, so concurrent guesses cannot race past the counter.
      const res = await db.query<{ locked_until: Date | null }>(
        `UPDATE app_user SET failed_count = failed_count + 1,
           locked_until = CASE WHEN failed_count + 1 >= $3
             THEN $5::timestamptz + make_interval(secs => LEAST(86400, $4 * power(2, failed_count + 1 - $3)))
             ELSE locked_until END
         WHERE tenant_id = $1 AND user_id = $2 RETURNING locked_until`,
        [tenant, userId, policy.maxFailures, policy.lockSeconds, now],
      );
      const until = res.rows[0]?.locked_until;
      return until && until > now ? { lockedUntil: until } : {};
    },
    async recordSuccess(tenant, userId) {
      await db.query('UPDATE app_user SET failed_count = 0, locked_until = NULL WHERE tenant_id = $1 AND user_id = $2', [tenant, userId]);
    },
    async totpSecret(tenant, userId) {
      const res = await db.query<{ totp_secret: Buffer | null }>('SELECT totp_secret FROM app_user WHERE tenant_id = $1 AND user_id = $2', [tenant, userId]);
      const sealed = res.rows[0]?.totp_secret;
      return sealed ? codec.decode(totpIdentity(tenant, userId), sealed) : undefined;
    },
    async provisionFederated(tenant, input) {
      const existing = await one(`SELECT ${columns} FROM app_user WHERE tenant_id = $1 AND external_issuer = $2 AND external_subject = $3`, [tenant, input.issuer, input.subject]);
      if (existing) {
        return (await one(`UPDATE app_user SET roles = $3 WHERE tenant_id = $1 AND user_id = $2 RETURNING ${columns}`, [tenant, existing.userId, input.roles]))!;
      }
      // A user of the same name (local, or from another provider) is not taken over: the new one gets a
      // name qualified by its provider, and in the unlikely case that is taken too, a random suffix.
      const candidates = [input.username, `${input.username}@${input.qualifier}`, `${input.username}@${input.qualifier}-${randomUUID().slice(0, 8)}`];
      for (const candidate of candidates) {
        // '!' never verifies (not a scrypt string): federated users cannot sign in with a password.
        const created = await one(
          `INSERT INTO app_user (tenant_id, user_id, username, password_hash, roles, plane, external_issuer, external_subject)
           VALUES ($1, $2, $3, '!', $4, 'workforce', $5, $6) ON CONFLICT DO NOTHING RETURNING ${columns}`,
          [tenant, randomUUID(), candidate.slice(0, 128), input.roles, input.issuer, input.subject],
        );
        if (created) return created;
        // A concurrent first sign-in of the same (issuer, sub) won the insert: use that user.
        const raced = await one(`SELECT ${columns} FROM app_user WHERE tenant_id = $1 AND external_issuer = $2 AND external_subject = $3`, [tenant, input.issuer, input.subject]);
        if (raced) return raced;
      }
      throw new HavenError('conflict', 'AUTH_USER_EXISTS', `No free username for ${input.username}`);
    },
    async enrolTotp(tenant, userId, secret, step) {
      const sealed = await codec.encode(totpIdentity(tenant, userId), secret);
      const res = await db.query(
        'UPDATE app_user SET totp_secret = $3, totp_last_step = $4 WHERE tenant_id = $1 AND user_id = $2 AND totp_secret IS NULL',
        [tenant, userId, sealed, step],
      );
      return res.rowCount === 1;
    },
    async resetTotp(tenant, userId) {
      // One statement: the recovery codes (migration 034) go with the authenticator they stand in for.
      const res = await db.query(
        `WITH codes AS (DELETE FROM totp_recovery_code WHERE tenant_id = $1 AND user_id = $2)
         UPDATE app_user SET totp_secret = NULL, totp_last_step = NULL WHERE tenant_id = $1 AND user_id = $2`,
        [tenant, userId],
      );
      return res.rowCount === 1;
    },
    async setFhirUser(tenant, userId, fhirUser) {
      if (fhirUser !== null) parseWorkforceFhirUser(fhirUser);
      // The plane condition stands beside the table's check: a patient row is not matched, so it is refused as unknown.
      const res = await db.query("UPDATE app_user SET workforce_fhir_user = $3 WHERE tenant_id = $1 AND user_id = $2 AND plane = 'workforce'", [tenant, userId, fhirUser]);
      return res.rowCount === 1;
    },
    async setDisabled(tenant, userId, disabled) {
      const res = await db.query('UPDATE app_user SET disabled = $3 WHERE tenant_id = $1 AND user_id = $2', [tenant, userId, disabled]);
      return res.rowCount === 1;
    },
    async consumeTotpStep(tenant, userId, step) {
      const res = await db.query(
        'UPDATE app_user SET totp_last_step = $3 WHERE tenant_id = $1 AND user_id = $2 AND (totp_last_step IS NULL OR totp_last_step < $3)',
        [tenant, userId, step],
      );
      return res.rowCount === 1;
    },
  };
}
