import type { Logger } from '../kernel/index.js';
import type { Db } from './db.js';

/**
 * Keeps planner statistics fresh on Haven's tables. Autovacuum does this on
 * a default PostgreSQL, but it can be off (as on some managed or test
 * servers), and after a bulk import stale statistics make the planner pick
 * the wrong index: a search that takes milliseconds can take seconds.
 * Tables whose modifications since the last ANALYZE exceed 10% of their rows
 * (and 1,000) are analysed; autovacuum, when on, keeps that number low.
 */
export const ANALYZE_SQL = `
  SELECT relname FROM pg_stat_user_tables
  WHERE schemaname = current_schema()
    AND (relname IN ('resource', 'resource_version') OR relname LIKE 'idx\\_%')
    AND n_mod_since_analyze > greatest(1000, 0.1 * n_live_tup)`;

/**
 * ANALYZEs the stale tables, one at a time (ANALYZE of a large table reads a
 * sample and must not pile up). SKIP_LOCKED: a table another process holds
 * (autovacuum vacuuming or analysing it) is left to that process. Without
 * it this ANALYZE queued behind autovacuum's lock, and after
 * `deadlock_timeout` PostgreSQL cancelled the autovacuum task ("canceling
 * autovacuum task") to let it through: during a bulk load on the embedded
 * server (autovacuum on) that threw away vacuum work on the growing tables
 * every 30 s, to be redone from the start. Returns the stale tables; one
 * skipped is stale again at the next round unless autovacuum analysed it.
 */
export async function analyzeStaleTables(db: Db): Promise<string[]> {
  const stale = (await db.query<{ relname: string }>(ANALYZE_SQL)).rows.map((r) => r.relname);
  for (const table of stale) await db.query(`ANALYZE (SKIP_LOCKED) ${table.replace(/[^a-z_]/g, '')}`);
  return stale;
}

/** Runs `analyzeStaleTables` every `intervalMs` until stopped. */
export function startMaintenance(db: Db, logger: Logger, intervalMs = 30_000): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    analyzeStaleTables(db)
      .then((tables) => {
        if (tables.length > 0) logger.info({ tables }, 'refreshed planner statistics');
      })
      .catch((err: unknown) => logger.warn({ err: String(err) }, 'statistics refresh failed'))
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
