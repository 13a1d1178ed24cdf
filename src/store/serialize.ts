import type { Queryable } from './db.js';

// Namespace of these application locks (pg_advisory_xact_lock(int, int)); HL7 v2 patient ordering uses 7_421_008.
const SERIALIZE_LOCK_SPACE = 7_421_009;

/**
 * Waits until no other transaction holds any of `keys`, then holds them until this transaction
 * ends. Taken in sorted order in one statement, so two callers cannot deadlock on these locks.
 * Keys are hashed (hashtext): two keys that collide only serialize more than needed.
 */
export async function serializeOn(tx: Queryable, keys: string[]): Promise<void> {
  if (keys.length === 0) return;
  const sorted = [...new Set(keys)].sort();
  await tx.query(
    {
      name: 'store.serialize',
      text: `SELECT count(pg_advisory_xact_lock($1::int, hashtext(k)))
               FROM (SELECT k FROM unnest($2::text[]) WITH ORDINALITY AS u(k, o) ORDER BY o) s`,
    },
    [SERIALIZE_LOCK_SPACE, sorted],
  );
}
