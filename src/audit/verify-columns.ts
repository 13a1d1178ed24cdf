import type { AuditEntry } from './entry.js';

/** The searchable columns of one audit_entry row, beside the signed bytes they were copied from. */
export interface ColumnValues {
  canonical: Buffer;
  tenant: string | null;
  action: string | null;
  outcome: string | null;
  subject: string | null;
  clientId: string | null;
  /** patient_ids joined with U+001F (sorted here, not in SQL). */
  patients: string | null;
  /** recorded_at as epoch milliseconds. */
  recordedMs: number | null;
}

/**
 * The searchable columns are copies of signed fields; a changed copy would
 * hide an access from a disclosure report without touching the signed bytes,
 * so each must agree with the entry it was copied from.
 */
export function checkColumns(row: ColumnValues, where: string, problem: (text: string) => void): void {
  let entry: AuditEntry;
  let patients: string[];
  try {
    entry = JSON.parse(row.canonical.toString('utf8')) as AuditEntry;
    patients = [...new Set(entry.resources.map((r) => r.patient).filter((p): p is string => p !== undefined))].sort();
  } catch {
    problem(`${where}: the entry bytes are not an audit entry`);
    return;
  }
  const differs: string[] = [];
  if (row.tenant !== entry.tenant) differs.push('tenant_id');
  if (row.action !== entry.action) differs.push('action');
  if (row.outcome !== entry.outcome) differs.push('outcome');
  if (row.subject !== entry.who.subject) differs.push('subject');
  if (row.clientId !== entry.who.clientId) differs.push('client_id');
  if (row.recordedMs !== Date.parse(entry.recordedAt)) differs.push('recorded_at');
  if (sortedPatients(row.patients) !== patients.join('\u001f')) differs.push('patient_ids');
  if (differs.length > 0) problem(`${where}: column ${differs.join(', ')} disagrees with the signed entry (altered)`);
}

function sortedPatients(joined: string | null): string {
  if (!joined) return '';
  return joined.includes('\u001f') ? joined.split('\u001f').sort().join('\u001f') : joined;
}
