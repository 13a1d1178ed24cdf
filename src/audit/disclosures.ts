import { dateRange } from '../fhir/index.js';
import { HavenError } from '../kernel/index.js';
import type { Queryable } from '../store/index.js';
import type { StoredAuditEntry } from './audit-event.js';
import { openWithoutKeys, type AuditEntryCrypto } from './entry-crypto.js';
import { ENTRY_COLUMNS, ENTRY_FROM, entryWhere, toStored } from './query.js';

/**
 * Accounting of disclosures for one patient (HIPAA §164.528, ONC
 * §170.315(d)(10) reports): every successful access to the patient's data in
 * a period, who received it (user and client application), when, what and
 * why. Failed requests disclosed nothing and are left out. The default period
 * is the six years HIPAA requires an accounting to cover.
 */
export interface DisclosureAccess {
  recordedAt: string;
  action: string;
  recipient: { subject: string; kind: string; clientId: string; onBehalfOf?: string };
  purposeOfUse?: string;
  resources: string[];
  sourceIp?: string;
  requestId: string;
  auditEntryId: string;
  seq: string | null;
  /** Set when the entry's sealed details could not be read (e.g. `key-destroyed`): resources then name types only. */
  detailsUnavailable?: string;
}

export interface DisclosureRecipient {
  clientId: string;
  subject: string;
  kind: string;
  accesses: number;
  first: string;
  last: string;
  purposes: string[];
}

export interface DisclosureReport {
  patient: string;
  tenant: string;
  generatedAt: string;
  period: { start: string; end: string };
  recipients: DisclosureRecipient[];
  accesses: DisclosureAccess[];
  /**
   * Set when older entries were pruned from the database (`haven audit prune`,
   * after archiving): the report is complete from `completeFrom` (the prune's
   * retention cutoff) on; accesses before it are only in the audit archive.
   */
  coverage?: { completeFrom: string; prunedBeforeSeq: number };
}

export interface DisclosureQuery {
  tenant: string;
  patientId: string;
  since?: string;
  until?: string;
  now: Date;
}

const SIX_YEARS_MS = 6 * 366 * 24 * 3600 * 1000;
const MAX_ROWS = 100_000;

/**
 * `crypto` (absent only with encryption off) finds v2 entries by the patient's
 * blind tag besides v1 entries by the reference, and opens their details.
 */
export async function disclosureReport(q: Queryable, query: DisclosureQuery, crypto?: AuditEntryCrypto): Promise<DisclosureReport> {
  if (!/^[A-Za-z0-9\-.]{1,64}$/.test(query.patientId)) throw new HavenError('incorrect', 'AUDIT_SEARCH_INVALID', 'The patient id is not a valid FHIR id');
  const start = bound(query.since, 'low') ?? new Date(query.now.getTime() - SIX_YEARS_MS).toISOString();
  const end = bound(query.until, 'high') ?? query.now.toISOString();
  if (Date.parse(start) > Date.parse(end)) throw new HavenError('incorrect', 'AUDIT_SEARCH_INVALID', '_since is after _until: the period is empty');
  const patient = `Patient/${query.patientId}`;
  const values = crypto ? await crypto.withTagger(query.tenant, (tag) => (tag ? [patient, tag('patient', patient)] : [patient])) : [patient];
  const res = await q.query<{ entry_id: string; seq: string | null; canonical: Buffer }>(
    `SELECT ${ENTRY_COLUMNS} FROM ${ENTRY_FROM}
     WHERE ${entryWhere({
       batchConditions: ['@tenant_id = $1', '@patient_ids && $2::text[]', '@last_at >= $3::timestamptz', '@first_at <= $4::timestamptz'],
       conditions: [`e.patient_ids && $2::text[]`, `e.outcome = 'success'`, 'e.recorded_at BETWEEN $3::timestamptz AND $4::timestamptz'],
     })}
     ORDER BY e.recorded_at, e.entry_id LIMIT ${MAX_ROWS + 1}`,
    [query.tenant, values, start, end],
  );
  if (res.rows.length > MAX_ROWS) {
    throw new HavenError('too-large', 'AUDIT_REPORT_TOO_LARGE', `More than ${MAX_ROWS} accesses in the period; narrow it with _since and _until`);
  }
  const stored = res.rows.map(toStored);
  const opened = crypto ? await crypto.open(stored) : openWithoutKeys(stored);
  const accesses = opened.map((s) => toAccess(s, patient));
  const coverage = await prunedCoverage(q);
  return { patient, tenant: query.tenant, generatedAt: query.now.toISOString(), period: { start, end }, recipients: recipientsOf(accesses), accesses, ...(coverage ? { coverage } : {}) };
}

async function prunedCoverage(q: Queryable): Promise<DisclosureReport['coverage']> {
  const res = await q.query<{ through_seq: string; cutoff: Date }>('SELECT through_seq, cutoff FROM audit_prune ORDER BY through_seq DESC LIMIT 1');
  const r = res.rows[0];
  return r ? { completeFrom: r.cutoff.toISOString(), prunedBeforeSeq: Number(r.through_seq) } : undefined;
}

function bound(value: string | undefined, side: 'low' | 'high'): string | undefined {
  if (value === undefined) return undefined;
  const range = dateRange(value);
  if (!range?.[side]) throw new HavenError('incorrect', 'AUDIT_SEARCH_INVALID', '_since and _until must be FHIR dates or dateTimes');
  return range[side]!;
}

function toAccess(stored: StoredAuditEntry, patient: string): DisclosureAccess {
  const e = stored.entry;
  return {
    recordedAt: e.recordedAt,
    action: e.operation ? `${e.action} ${e.operation}` : e.action,
    recipient: { subject: e.who.subject, kind: e.who.kind, clientId: e.who.clientId, ...(e.who.onBehalfOf ? { onBehalfOf: e.who.onBehalfOf } : {}) },
    ...(e.why ? { purposeOfUse: e.why } : {}),
    // Only this patient's resources: an entry for a search can name other patients too.
    resources: e.resources.filter((r) => r.patient === patient || r.patient === undefined).map((r) => (r.id ? `${r.type}/${r.id}` : r.type)),
    ...(e.where.sourceIp ? { sourceIp: e.where.sourceIp } : {}),
    requestId: e.requestId,
    auditEntryId: stored.entryId,
    seq: stored.seq,
    ...(stored.unavailable ? { detailsUnavailable: stored.unavailable } : {}),
  };
}

function recipientsOf(accesses: DisclosureAccess[]): DisclosureRecipient[] {
  const byKey = new Map<string, DisclosureRecipient>();
  for (const a of accesses) {
    const key = `${a.recipient.clientId}\u0000${a.recipient.subject}`;
    const r = byKey.get(key) ?? { clientId: a.recipient.clientId, subject: a.recipient.subject, kind: a.recipient.kind, accesses: 0, first: a.recordedAt, last: a.recordedAt, purposes: [] };
    r.accesses += 1;
    r.last = a.recordedAt;
    if (a.purposeOfUse && !r.purposes.includes(a.purposeOfUse)) r.purposes.push(a.purposeOfUse);
    byKey.set(key, r);
  }
  return [...byKey.values()].sort((x, y) => y.accesses - x.accesses || x.clientId.localeCompare(y.clientId));
}
