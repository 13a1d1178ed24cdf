/** The searchable columns of an entry's batch, beside the signed bytes of the entry. */
export interface ColumnValues {
  canonical: Buffer;
  tenant: string | null;
  /** The batch's patient_ids joined with U+001F. */
  patients: string | null;
  /** The batch's first_at and last_at as epoch milliseconds. */
  firstMs: number | null;
  lastMs: number | null;
}

/**
 * Searches find entries through their batch's columns (tenant, patients,
 * time window) before reading the signed bytes, so a narrowed column would
 * hide an access from a disclosure report without touching the signed bytes.
 * Each column must therefore cover every entry of its batch: same tenant,
 * every patient the entry names, recordedAt inside [first_at, last_at].
 * (A wider column only costs a search some extra reading.)
 */
export function checkColumns(row: ColumnValues, where: string, problem: (text: string) => void): void {
  const facts = searchableFacts(row.canonical.toString('utf8'));
  if (!facts) {
    problem(`${where}: the entry bytes are not an audit entry`);
    return;
  }
  const differs: string[] = [];
  if (row.tenant !== facts.tenant) differs.push('tenant_id');
  const at = Date.parse(facts.recordedAt);
  if (row.firstMs === null || row.firstMs > at) differs.push('first_at');
  if (row.lastMs === null || row.lastMs < at) differs.push('last_at');
  if (facts.patients.length > 0) {
    const batch = patientSet(row.patients);
    if (facts.patients.some((p) => !batch.has(p))) differs.push('patient_ids');
  }
  if (differs.length > 0) problem(`${where}: batch column ${differs.join(', ')} does not cover the signed entry (altered)`);
}

// Consecutive rows repeat their batch's list: split it once per batch, not once per entry.
let lastJoined: string | null = null;
let lastSet = new Set<string>();
function patientSet(joined: string | null): Set<string> {
  if (joined !== lastJoined) {
    lastJoined = joined;
    lastSet = new Set(joined ? joined.split('\u001f') : []);
  }
  return lastSet;
}

// A JSON string literal's body: escaped characters or anything but a quote or backslash.
const STRING = '"((?:[^"\\\\]|\\\\.)*)"';
const TENANT = new RegExp(`"tenant":${STRING}`);
const RECORDED_AT = new RegExp(`"recordedAt":${STRING}`);
const PATIENT = new RegExp(`"patient":${STRING}`, 'g');

/**
 * Tenant, time and patients of an entry, read from its canonical JSON
 * without parsing all of it (the verifier's hot loop). Sound because the
 * encoding is canonical: a quote inside a string value is always escaped, so
 * a match is a real key; `tenant` and `recordedAt` occur only at the top
 * level and `patient` only in `resources` (entry.ts). In format v2 that
 * `patient` is the blind tag (sealed-entry.ts), which is what the batch's
 * patient_ids holds for the entry, so the same check needs no key.
 */
export function searchableFacts(json: string): { tenant: string; recordedAt: string; patients: string[] } | undefined {
  const tenant = TENANT.exec(json);
  const recordedAt = RECORDED_AT.exec(json);
  if (!json.startsWith('{') || !tenant || !recordedAt) return undefined;
  const patients = new Set<string>();
  for (const m of json.matchAll(PATIENT)) patients.add(unescape(m[1]!));
  return { tenant: unescape(tenant[1]!), recordedAt: unescape(recordedAt[1]!), patients: [...patients] };
}

function unescape(body: string): string {
  return body.includes('\\') ? (JSON.parse(`"${body}"`) as string) : body;
}
