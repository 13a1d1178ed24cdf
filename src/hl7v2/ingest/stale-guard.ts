import type { Queryable } from '../../store/index.js';
import type { ConversionResult } from '../model.js';

/**
 * Out-of-order messages. Each resource a message updates (a PUT entry of its
 * Bundle: the patient, the visit, an order, a result) remembers the newest
 * MSH-7 that updated it. A message older than that — a resend that arrives
 * late, a dead letter replayed after newer messages, two interfaces feeding
 * one patient — leaves such a resource as the newer message made it: its entry
 * becomes a conditional create of the same target, which finds the resource,
 * changes nothing and still resolves the references of the other entries.
 * Creates are unaffected (they never overwrite).
 */

type Bundle = ConversionResult['bundle'];
interface Entry {
  resource?: { resourceType?: string };
  request?: { method?: string; url?: string; ifNoneExist?: string };
}

/** The update entries of one message, each with the keyed hash its clock row is stored under. */
export interface MessageClock {
  messageId: string;
  sentAt: string;
  entries: { index: number; key: string }[];
}

/**
 * Raised inside the transaction when an update is older than the resource's
 * clock: the transaction rolls back (nothing written, clocks included) and the
 * caller retries with those entries demoted. `stale` maps a message id to the
 * Bundle entry indexes (of that message's own Bundle) that are out of date.
 */
export class StaleUpdates extends Error {
  constructor(readonly stale: Map<string, number[]>) {
    super('updates older than the stored data');
  }
}

/** The entries whose target the message overwrites: PUTs, but not the message's own Provenance. */
function updateEntries(bundle: Bundle): { index: number; url: string }[] {
  const out: { index: number; url: string }[] = [];
  (bundle.entry as Entry[]).forEach((e, index) => {
    if (e.request?.method === 'PUT' && e.request.url && e.resource?.resourceType !== 'Provenance') out.push({ index, url: e.request.url });
  });
  return out;
}

/** The clock of a converted message; undefined when it has no MSH-7 time, opted out, is a merge, or updates nothing. */
export async function clockOf(
  result: ConversionResult,
  messageId: string,
  keyOf: (url: string) => Promise<string>,
): Promise<MessageClock | undefined> {
  // A merge is an explicit correction, applied whenever it arrives: skipping the retired record's
  // link while its references move to the survivor would leave the two half merged.
  if (result.sentAt === undefined || result.merge) return undefined;
  const updates = updateEntries(result.bundle);
  if (updates.length === 0) return undefined;
  const entries = await Promise.all(updates.map(async (u) => ({ index: u.index, key: await keyOf(u.url) })));
  return { messageId, sentAt: result.sentAt, entries };
}

/**
 * `prior` reads the rows as they were before this statement (CTEs share one snapshot), so it
 * reports the clock the message is compared with, whatever the upsert does to it.
 *
 * It reads each key's clock by its own primary-key probe (a fenced LATERAL), and the statement is
 * sent unnamed, planned with the table's current size. As a named join its cached plan hashed every
 * clock of the tenant for each message wherever `hl7v2_entry_clock` had no statistics (autovacuum off:
 * nothing else analyses it): 1,000–19,000 rows per message within the first two minutes of
 * `bench/hl7v2-mllp.ts --mix update`, one more row per patient and encounter ever seen.
 */
export const ADVANCE_CLOCKS_SQL = `WITH input AS (SELECT * FROM unnest($2::text[], $3::timestamptz[], $4::uuid[]) AS t(entry_key, message_time, message_id)),
             prior AS (SELECT i.entry_key, c.message_time FROM input i
                       CROSS JOIN LATERAL (SELECT c.message_time FROM hl7v2_entry_clock c WHERE c.tenant_id = $1 AND c.entry_key = i.entry_key OFFSET 0) c),
             up AS (INSERT INTO hl7v2_entry_clock (tenant_id, entry_key, message_time, message_id)
                    SELECT $1, entry_key, message_time, message_id FROM input
                    ON CONFLICT (tenant_id, entry_key) DO UPDATE SET message_time = EXCLUDED.message_time, message_id = EXCLUDED.message_id
                    WHERE hl7v2_entry_clock.message_time <= EXCLUDED.message_time)
             SELECT i.entry_key FROM input i JOIN prior p USING (entry_key) WHERE p.message_time > i.message_time`;

/**
 * Moves every clock of `clocks` forward to its message's time and returns the
 * entries that were already newer, by message. Runs inside the messages'
 * transaction after their patient locks, so messages about one patient see
 * each other's clocks in order; when it returns any, the caller must roll back.
 */
export async function advanceClocks(tx: Queryable, tenant: string, clocks: MessageClock[]): Promise<Map<string, number[]>> {
  const keys: string[] = [];
  const times: string[] = [];
  const ids: string[] = [];
  for (const c of clocks) {
    for (const e of c.entries) {
      keys.push(e.key);
      times.push(c.sentAt);
      ids.push(c.messageId);
    }
  }
  const stale = new Map<string, number[]>();
  if (keys.length === 0) return stale;
  const res = await tx.query<{ entry_key: string }>(ADVANCE_CLOCKS_SQL, [tenant, keys, times, ids]);
  const late = new Set(res.rows.map((r) => r.entry_key));
  for (const c of clocks) {
    const indexes = c.entries.filter((e) => late.has(e.key)).map((e) => e.index);
    if (indexes.length > 0) stale.set(c.messageId, indexes);
  }
  return stale;
}

/**
 * The Bundle with the given update entries turned into conditional creates of
 * the same target (`PUT Patient?identifier=…` → `POST Patient` if none exists
 * with that identifier; `PUT Observation/x` → if none with `_id=x`): the
 * resource is found and left alone, and the entry's fullUrl still resolves.
 */
export function demote(bundle: Bundle, indexes: number[]): Bundle {
  const set = new Set(indexes);
  const entry = (bundle.entry as Entry[]).map((e, i) => {
    if (!set.has(i) || !e.request?.url) return e;
    const url = e.request.url;
    const q = url.indexOf('?');
    const [type, criteria] = q >= 0 ? [url.slice(0, q), url.slice(q + 1)] : [url.slice(0, url.indexOf('/')), `_id=${encodeURIComponent(url.slice(url.indexOf('/') + 1))}`];
    return { ...e, request: { method: 'POST', url: type, ifNoneExist: criteria } };
  });
  return { ...bundle, entry };
}

/** The clock without the demoted entries (they no longer update anything). */
export function withoutEntries(clock: MessageClock | undefined, indexes: number[]): MessageClock | undefined {
  if (!clock) return undefined;
  const entries = clock.entries.filter((e) => !indexes.includes(e.index));
  return entries.length === 0 ? undefined : { ...clock, entries };
}
