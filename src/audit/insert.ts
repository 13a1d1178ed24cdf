import type { Queryable } from '../store/index.js';
import type { EntryRow } from './entry.js';
import type { StoredEntryJson } from './sealed-entry.js';
import { leafHash } from './merkle.js';

// Patients of one batch travel as one text (unit-separator joined): UNNEST cannot carry ragged arrays.
const SEP = '\u001f';
/** Entries per batch row at most: entry ids are batch_id + ordinal and batch ids step by this (migration 020). */
export const MAX_BATCH_ENTRIES = 4096;

interface BatchColumns {
  tenant: string[];
  firstAt: string[];
  lastAt: string[];
  patients: string[];
  /** Every who.subject and who.clientId of the batch (migration 040), joined like patients. */
  agents: string[];
  /** Every resource the batch's entries name, as signed (migration 041), joined like patients. */
  entities: string[];
  /** Whether any entry of the batch is a failure (migration 045). */
  failed: boolean[];
  /** 1-based inclusive bounds of each batch's slice of the flat entry and leaf arrays. */
  from: number[];
  to: number[];
  entries: Buffer[];
  leaves: Buffer[];
}

const BYTEA_OID = 17;

/**
 * A bytea[] in PostgreSQL's binary array format (what array_recv reads): one
 * dimension, no NULLs, then each element as its length and bytes.
 * node-postgres sends a Buffer parameter in binary, so the entries travel as
 * their own bytes; as a bytea[] value it sent a text literal of hex strings,
 * twice the bytes, which PostgreSQL then parsed character by character.
 */
export function byteaArray(items: Buffer[]): Buffer {
  let size = 20;
  for (const b of items) size += 4 + b.length;
  const out = Buffer.allocUnsafe(size);
  out.writeInt32BE(1, 0); // dimensions
  out.writeInt32BE(0, 4); // no NULL elements
  out.writeUInt32BE(BYTEA_OID, 8);
  out.writeInt32BE(items.length, 12);
  out.writeInt32BE(1, 16); // lower bound
  let at = 20;
  for (const b of items) {
    out.writeInt32BE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/** Splits rows into batch rows: one per tenant (and per MAX_BATCH_ENTRIES), entries in arrival order. */
export function toBatches(rows: EntryRow[]): BatchColumns {
  const byTenant = new Map<string, EntryRow[]>();
  for (const row of rows) {
    const list = byTenant.get(row.entry.tenant);
    if (list) list.push(row);
    else byTenant.set(row.entry.tenant, [row]);
  }
  const cols: BatchColumns = { tenant: [], firstAt: [], lastAt: [], patients: [], agents: [], entities: [], failed: [], from: [], to: [], entries: [], leaves: [] };
  for (const [tenant, list] of byTenant) {
    for (let i = 0; i < list.length; i += MAX_BATCH_ENTRIES) {
      const chunk = list.slice(i, i + MAX_BATCH_ENTRIES);
      let first = chunk[0]!.entry.recordedAt;
      let last = first;
      const patients = new Set<string>();
      const agents = new Set<string>();
      const entities = new Set<string>();
      let failed = false;
      cols.from.push(cols.entries.length + 1);
      for (const { entry, canonical, patients: ps, leaf } of chunk) {
        agents.add(entry.who.subject).add(entry.who.clientId);
        if (entry.outcome === 'failure') failed = true;
        // ISO-8601 UTC strings of one format order as the instants they name.
        if (entry.recordedAt < first) first = entry.recordedAt;
        if (entry.recordedAt > last) last = entry.recordedAt;
        for (const p of ps) patients.add(p);
        for (const r of entry.resources) {
          const entity = entityOf(r);
          if (entity !== undefined) entities.add(entity);
        }
        cols.entries.push(canonical);
        cols.leaves.push(leaf ?? leafHash(canonical));
      }
      cols.to.push(cols.entries.length);
      cols.tenant.push(tenant);
      cols.firstAt.push(first);
      cols.lastAt.push(last);
      cols.patients.push([...patients].join(SEP));
      cols.agents.push([...agents].join(SEP));
      cols.entities.push([...entities].join(SEP));
      cols.failed.push(failed);
    }
  }
  return cols;
}

/**
 * The value an entity search matches a resource of an entry by: its blind tag
 * in a v2 entry, `Type/id` in a v1 one; none when the entry names a type only.
 */
export function entityOf(r: StoredEntryJson['resources'][number]): string | undefined {
  if ('entity' in r) return r.entity;
  return 'id' in r && r.id !== undefined ? `${r.type}/${r.id}` : undefined;
}

/**
 * Appends entries as batch rows and queues the batches for the sequencer, in
 * ONE statement: the caller's transaction (writes) or a group-commit batch
 * (reads) makes both durable together, so no committed entry can miss the log.
 * One row per commit unit instead of one per entry (ADR 0004): the index and
 * queue work is paid per batch, not per access.
 */
export async function insertEntries(q: Queryable, rows: EntryRow[]): Promise<void> {
  if (rows.length === 0) return;
  const b = toBatches(rows);
  await q.query(
    {
      name: 'audit.insert-batches',
      text: `WITH b AS (
               INSERT INTO audit_batch (tenant_id, first_at, last_at, patient_ids, agent_ids, entity_ids, failed, entries, leaf_hashes)
               SELECT t, fa::timestamptz, la::timestamptz, CASE WHEN p = '' THEN '{}'::text[] ELSE string_to_array(p, $9) END,
                      string_to_array(a, $9), CASE WHEN en = '' THEN '{}'::text[] ELSE string_to_array(en, $9) END, fl, ($7::bytea[])[f:l], ($8::bytea[])[f:l]
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[], $10::text[], $11::text[], $12::boolean[]) AS u(t, fa, la, p, f, l, a, en, fl)
               RETURNING tenant_id, batch_id)
             INSERT INTO audit_batch_queue (batch_id, tenant_id) SELECT batch_id, tenant_id FROM b`,
    },
    [b.tenant, b.firstAt, b.lastAt, b.patients, b.from, b.to, byteaArray(b.entries), byteaArray(b.leaves), SEP, b.agents, b.entities, b.failed],
  );
}
