/**
 * The reference targets PostgreSQL's statistics list as most common
 * (`pg_stats.most_common_vals` of `idx_reference.target_id`): an Organization
 * or Practitioner that half the store points at. A search naming one of them
 * is planned with its values, not generically (src/search/plan-stability.ts):
 * for such a value the planner expects many rows and may choose another plan,
 * while for every other value it expects about as many as the generic plan
 * does. The list changes only when the table is analysed, so it is read again
 * at most once a minute, in the background; until the first read completes the
 * callers wait for it, and a failed read keeps the previous list (none at start,
 * which is what PostgreSQL itself knows before the first ANALYZE).
 */
import type { CommonTargets } from '../search/plan-stability.js';
import type { Queryable } from './db.js';

export interface CommonTargetsSource {
  /** The current list; waits only for the first read. */
  current(): Promise<CommonTargets>;
}

const COMMON_TARGETS_SQL = `SELECT most_common_vals::text::text[] AS ids FROM pg_stats
WHERE schemaname = current_schema() AND tablename = 'idx_reference' AND attname = 'target_id'`;

export function createCommonTargets(db: Queryable, options: { refreshMs?: number; now?: () => number } = {}): CommonTargetsSource {
  const refreshMs = options.refreshMs ?? 60_000;
  const now = options.now ?? Date.now;
  let known: ReadonlySet<string> = new Set();
  let readAt = -Infinity;
  let reading: Promise<void> | undefined;
  let first: Promise<void> | undefined;

  function read(): Promise<void> {
    readAt = now();
    reading ??= db
      .query<{ ids: string[] | null }>(COMMON_TARGETS_SQL)
      .then(
        (res) => {
          known = new Set(res.rows.flatMap((r) => r.ids ?? []));
        },
        () => undefined,
      )
      .finally(() => {
        reading = undefined;
      });
    return reading;
  }

  const targets: CommonTargets = { has: (id) => known.has(id) };
  return {
    async current() {
      first ??= read();
      await first;
      if (now() - readAt >= refreshMs) void read();
      return targets;
    },
  };
}
