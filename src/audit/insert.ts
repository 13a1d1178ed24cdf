import type { Queryable } from '../store/index.js';
import type { EntryRow } from './entry.js';

// Patients of one entry travel as one text (unit-separator joined): UNNEST cannot carry ragged arrays.
const SEP = '\u001f';

/**
 * Appends entries and queues them for the sequencer, in ONE statement: the
 * caller's transaction (writes) or a group-commit batch (reads) makes both
 * durable together, so no committed entry can miss the log.
 */
export async function insertEntries(q: Queryable, rows: EntryRow[]): Promise<void> {
  if (rows.length === 0) return;
  const cols = {
    tenant: [] as string[],
    event: [] as string[],
    at: [] as string[],
    action: [] as string[],
    outcome: [] as string[],
    subject: [] as string[],
    client: [] as string[],
    patients: [] as string[],
    request: [] as string[],
    canonical: [] as Buffer[],
  };
  for (const { entry, canonical, patients } of rows) {
    cols.tenant.push(entry.tenant);
    cols.event.push(entry.id);
    cols.at.push(entry.recordedAt);
    cols.action.push(entry.action);
    cols.outcome.push(entry.outcome);
    cols.subject.push(entry.who.subject);
    cols.client.push(entry.who.clientId);
    cols.patients.push(patients.join(SEP));
    cols.request.push(entry.requestId);
    cols.canonical.push(canonical);
  }
  await q.query(
    {
      name: 'audit.insert-entries',
      text: `WITH e AS (
               INSERT INTO audit_entry (tenant_id, event_id, recorded_at, action, outcome, subject, client_id, patient_ids, request_id, canonical)
               SELECT t, ev::uuid, at::timestamptz, a, o, s, c, CASE WHEN p = '' THEN '{}'::text[] ELSE string_to_array(p, $11) END, r, cb
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bytea[])
                 AS u(t, ev, at, a, o, s, c, p, r, cb)
               RETURNING entry_id)
             INSERT INTO audit_queue (entry_id) SELECT entry_id FROM e`,
    },
    [cols.tenant, cols.event, cols.at, cols.action, cols.outcome, cols.subject, cols.client, cols.patients, cols.request, cols.canonical, SEP],
  );
}
