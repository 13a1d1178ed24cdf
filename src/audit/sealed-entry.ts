import type { AuditEntry } from './entry.js';

/**
 * Entry format v2 (docs/security/audit.md, "Entry format v2"): the PHI of an
 * entry — resource ids and versions, patient references, the subject of a
 * patient's token, a patient acted for, the source address — sealed under the
 * tenant's `audit` data key; everything an auditor filters on without a key
 * stays public, and the PHI needed for search is public only as blind tags.
 * The canonical bytes (tags and ciphertext included) are what the Merkle leaf
 * commits to, so verification needs no key and survives crypto-shredding.
 */
export interface SealedAuditEntry extends Omit<AuditEntry, 'v' | 'who' | 'where' | 'resources'> {
  v: 2;
  /** `subject` is a blind tag (`bi:…`) when the token is a patient's; `onBehalfOf` only when it is not a patient. */
  who: { subject: string; clientId: string; kind: string; onBehalfOf?: string; tokenId?: string };
  where: { node: string };
  /** Types in clear; `entity` tags `Type/id`, `patient` tags `Patient/{id}`. Same order as the sealed resources. */
  resources: { type: string; entity?: string; patient?: string }[];
  /** Base64 envelope (purpose `audit`) of the canonical JSON of {@link SealedDetails}. */
  sealed: string;
}

/** What the envelope of a v2 entry holds. */
export interface SealedDetails {
  resources: { id?: string; version?: number; patient?: string }[];
  sourceIp?: string;
  subject?: string;
  onBehalfOf?: string;
}

/** An entry as stored: v1 (all in clear) or v2 (PHI sealed). */
export type StoredEntryJson = AuditEntry | SealedAuditEntry;

export const isSealed = (e: StoredEntryJson): e is SealedAuditEntry => e.v === 2;

/** Blind-tag domains of audit search values; distinct from every search parameter's domain. */
export const TAG_DOMAIN = { patient: 'audit-patient', entity: 'audit-entity', subject: 'audit-subject' } as const;
export type TagKind = keyof typeof TAG_DOMAIN;

/**
 * Public tags read `bi:` + 32 hex digits: never a `Patient/…` reference (so v1
 * and v2 values cannot be confused in patient_ids), and free of characters
 * JSON escapes (the verifier's regex reads them without unescaping).
 */
export const TAG_PREFIX = 'bi:';

/** A token whose user is a patient (SMART fhirUser `…/Patient/{id}`): its subject identifies the patient. */
export function isPatientReference(value: string | undefined): boolean {
  return value !== undefined && /(^|\/)Patient\/[A-Za-z0-9\-.]{1,64}$/.test(value);
}

/**
 * An entry of a crypto-shredded tenant, which has no key to seal with: kept in
 * format v1 with its PHI left out (types only, no address, a patient's token
 * subject replaced) and `redacted` saying why.
 */
export function redactedEntry(entry: AuditEntry, patientSubject: boolean): AuditEntry {
  const { onBehalfOf, ...who } = entry.who;
  return {
    ...entry,
    who: { ...who, ...(patientSubject ? { subject: 'patient' } : {}), ...(onBehalfOf !== undefined && !isPatientReference(onBehalfOf) ? { onBehalfOf } : {}) },
    where: { node: entry.where.node },
    resources: entry.resources.map((r) => ({ type: r.type })),
    redacted: 'tenant-shredded',
  };
}
