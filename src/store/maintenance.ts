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

export async function analyzeStaleTables(db: Db): Promise<string[]> {
  const stale = (await db.query<{ relname: string }>(ANALYZE_SQL)).rows.map((r) => r.relname);
  // One at a time: ANALYZE of a large table reads a sample and must not pile up.
  for (const table of stale) await db.query(`ANALYZE ${table.replace(/[^a-z_]/g, '')}`);
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
