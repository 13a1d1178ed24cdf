import type { AuditAction, AuditEntry } from './entry.js';

/**
 * Renders a stored audit entry as a FHIR R4 AuditEvent. The entry (its
 * canonical bytes) is the record of truth; the AuditEvent is a view of it, so
 * its id is the entry id and two extensions carry what an auditor needs to
 * ask for an inclusion proof: the log sequence number and the request id.
 */
export interface StoredAuditEntry {
  entryId: string;
  /** Position in the Merkle log; null while the entry waits for the sequencer. */
  seq: string | null;
  entry: AuditEntry;
  /**
   * Why the sealed details of a v2 entry could not be read (`key-destroyed`
   * after crypto-shredding, `damaged`, `encryption-off`): the public part is
   * shown and the details (ids, patients, address) are absent.
   */
  unavailable?: string;
}

export const SEQ_EXTENSION = 'urn:haven:audit:seq';
export const REQUEST_EXTENSION = 'urn:haven:audit:request-id';
/** On an AuditEvent whose sealed details could not be read: the reason (StoredAuditEntry.unavailable). */
export const DETAILS_UNAVAILABLE_EXTENSION = 'urn:haven:audit:details-unavailable';

const RESTFUL = 'http://hl7.org/fhir/restful-interaction';
const EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';

/** Entry action → restful-interaction code (AuditEvent.subtype). */
const SUBTYPE: Record<AuditAction, string> = {
  read: 'read',
  vread: 'vread',
  search: 'search-type',
  history: 'history-instance',
  create: 'create',
  update: 'update',
  patch: 'patch',
  delete: 'delete',
  bundle: 'transaction',
  operation: 'operation',
  login: '110122',
};

/** Entry action → AuditEvent.action (C/R/U/D/E). */
export const ACTION_CODE: Record<AuditAction, 'C' | 'R' | 'U' | 'D' | 'E'> = {
  read: 'R',
  vread: 'R',
  search: 'E',
  history: 'R',
  create: 'C',
  update: 'U',
  patch: 'U',
  delete: 'D',
  bundle: 'E',
  operation: 'E',
  login: 'E',
};

/** AuditEvent.outcome: 0 success, 4 minor failure (request refused), 8 serious failure (server side). */
export function outcomeCode(entry: AuditEntry): '0' | '4' | '8' {
  if (entry.outcome === 'success') return '0';
  return (entry.status ?? 500) >= 500 ? '8' : '4';
}

export function toAuditEvent(stored: StoredAuditEntry): Record<string, unknown> {
  const { entry } = stored;
  const login = entry.action === 'login';
  return {
    resourceType: 'AuditEvent',
    id: stored.entryId,
    meta: { lastUpdated: entry.recordedAt },
    // R4 has no 64-bit integer type: the sequence number travels as a string.
    extension: [
      ...(stored.seq !== null ? [{ url: SEQ_EXTENSION, valueString: stored.seq }] : []),
      { url: REQUEST_EXTENSION, valueString: entry.requestId },
      ...(stored.unavailable ? [{ url: DETAILS_UNAVAILABLE_EXTENSION, valueCode: stored.unavailable }] : []),
    ],
    type: login
      ? { system: DCM, code: '110114', display: 'User Authentication' }
      : { system: EVENT_TYPE, code: 'rest', display: 'RESTful Operation' },
    subtype: [login ? { system: DCM, code: '110122', display: 'Login' } : { system: RESTFUL, code: SUBTYPE[entry.action] }],
    action: ACTION_CODE[entry.action],
    recorded: entry.recordedAt,
    outcome: outcomeCode(entry),
    ...(entry.outcomeCode ? { outcomeDesc: entry.outcomeCode } : {}),
    ...(entry.why ? { purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: entry.why }] }] } : {}),
    agent: agents(entry),
    source: {
      site: entry.where.node,
      observer: { display: 'Haven' },
      type: [{ system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '4', display: 'Application Server' }],
    },
    ...(entities(entry).length > 0 ? { entity: entities(entry) } : {}),
  };
}

function agents(entry: AuditEntry): Record<string, unknown>[] {
  const who = entry.who;
  const requestor: Record<string, unknown> = {
    type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
    who: { identifier: { system: `urn:haven:${who.kind}`, value: who.subject } },
    altId: who.clientId,
    requestor: true,
    ...(entry.where.sourceIp ? { network: { address: entry.where.sourceIp, type: '2' } } : {}),
    ...(who.tokenId ? { policy: [`urn:haven:token:${who.tokenId}`] } : {}),
  };
  if (!who.onBehalfOf) return [requestor];
  return [requestor, { who: { identifier: { system: 'urn:haven:user', value: who.onBehalfOf } }, requestor: false }];
}

function entities(entry: AuditEntry): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = entry.resources.map((r) => ({
    what: r.id !== undefined ? { reference: `${r.type}/${r.id}${r.version !== undefined ? `/_history/${r.version}` : ''}` } : { display: r.type },
    type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '2', display: 'System Object' },
  }));
  const patients = new Set(entry.resources.map((r) => r.patient).filter((p): p is string => p !== undefined));
  for (const patient of patients) {
    out.push({
      what: { reference: patient },
      type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
      role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
    });
  }
  return out;
}
