import { parseScope } from './scopes.js';
import type { PendingAuthorization } from './auth-requests.js';
import type { LaunchContext } from './grants.js';
import type { AppUser } from './users.js';

/**
 * What the user may grant: patients only `patient/` resource scopes (their own
 * compartment); workforce users `user/` scopes, and `patient/` scopes only
 * once a patient is in context. Identity and launch scopes pass when their
 * context exists.
 */
export function grantableScopes(pending: PendingAuthorization, user: AppUser): string[] {
  const patient = patientFor(pending, user);
  return pending.scopes.filter((raw) => {
    const s = parseScope(raw);
    if (s) {
      if (s.context === 'patient') return patient !== undefined;
      return s.context === 'user' && user.plane === 'workforce';
    }
    if (raw === 'launch') return pending.launch !== undefined;
    if (raw === 'launch/patient') return patient !== undefined;
    if (raw === 'launch/encounter') return pending.launch?.encounter !== undefined;
    return ['openid', 'fhirUser', 'profile', 'offline_access', 'online_access'].includes(raw);
  });
}

/** The patient in context: the EHR's, the patient user's own, or the one picked. */
export function patientFor(pending: PendingAuthorization, user: AppUser): string | undefined {
  if (user.plane === 'patient') return user.patient!.slice('Patient/'.length);
  return pending.launch?.patient ?? pending.selectedPatient;
}

/** A standalone launch by a workforce user that asks for a patient and has none yet. */
export function needsPatientPicker(pending: PendingAuthorization, user: AppUser): boolean {
  return user.plane === 'workforce' && pending.scopes.includes('launch/patient') && patientFor(pending, user) === undefined;
}

/** Resource scopes shown with a checkbox; the others are listed as what they mean. */
export function isResourceScope(raw: string): boolean {
  return parseScope(raw) !== undefined;
}

export interface ConsentDecision {
  /** Resource scopes the user left ticked; all others requested are dropped. */
  approved: ReadonlySet<string>;
}

export function finalScopes(pending: PendingAuthorization, user: AppUser, decision: ConsentDecision): string[] {
  return grantableScopes(pending, user).filter((s) => !isResourceScope(s) || decision.approved.has(s));
}

export function launchContextFor(pending: PendingAuthorization, user: AppUser, fhirBase: string, authTime: number): LaunchContext {
  const patient = patientFor(pending, user);
  return {
    ...(patient ? { patient } : {}),
    ...(pending.launch?.encounter ? { encounter: pending.launch.encounter } : {}),
    ...(pending.launch?.fhirContext?.length ? { fhirContext: pending.launch.fhirContext } : {}),
    // fhirUser must resolve: the absolute URL on this tenant's FHIR base of the user's Patient, or of the
    // Practitioner/PractitionerRole a workforce user is linked to; an unlinked workforce user has none.
    ...(user.fhirUser ? { fhirUser: `${fhirBase}/${user.fhirUser}` } : {}),
    ...(patient ? { needPatientBanner: pending.launch === undefined } : {}),
    ...(pending.nonce ? { nonce: pending.nonce } : {}),
    authTime,
  };
}
