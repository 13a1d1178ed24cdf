import type { Logger } from '../kernel/index.js';
import type { Db } from './db.js';

/**
 * Keeps planner statistics fresh on Haven's tables. Autovacuum does this on
 * a default PostgreSQL, but it can be off (as on some managed or test
 * servers), and after a bulk import stale statistics make the planner pick
 * the wrong index: a search that takes milliseconds can take seconds.
 * Tables whose modifications since the last ANALYZE exceed 10% of their rows
 * (and 1,000) are analysed; autovacuum, when on, keeps that number low.
 *
 * Every table of Haven's schema that its role may analyse, not only the
 * resource and index tables: the audit log is searched too, and on the
 * 1M-resource benchmark store (autovacuum off) `audit_batch` had grown from
 * ~20,000 to 409,000 batches since its only ANALYZE. With those statistics an
 * AuditEvent search by entity walked every batch newest first looking for
 * matches (844 ms, 316,000 buffers, for a resource nobody had read) and one
 * by patient scanned 94,000 batches of its time window (87 + 105 ms); after
 * an ANALYZE the planner took the GIN indexes: 2.8 and 4.8 ms.
 */
export const ANALYZE_SQL = `
  SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
  WHERE s.schemaname = current_schema()
    AND pg_has_role(c.relowner, 'USAGE')
    AND s.n_mod_since_analyze > greatest(1000, 0.1 * s.n_live_tup)
    AND (s.n_live_tup < $1 OR coalesce(greatest(s.last_analyze, s.last_autoanalyze), '-infinity') < now() - make_interval(secs => $2))`;

/**
 * How often the tables are checked, and how soon a large one may be analysed again.
 *
 * A new store's first minute decides many plans: until its first ANALYZE, PostgreSQL guesses, and its
 * guesses made identifier look-ups (the conditional create/update of every HL7 v2 message) walk every
 * Patient and Encounter of the tenant (932 each at 900 patients, up to 149 ms per statement with the 30 s
 * round). So tables are checked every 5 s, and a table of fewer than `youngRows` rows is analysed as soon
 * as it is stale (cheap at that size). A larger one waits at least `minGapSeconds` since its last ANALYZE,
 * as it did with a 30 s round: during a bulk load each ANALYZE of a multi-million-row index table costs a
 * few hundred milliseconds, and its 10 % threshold is crossed every few tens of seconds.
 */
export interface MaintenanceCadence {
  intervalMs: number;
  youngRows: number;
  minGapSeconds: number;
}

export const DEFAULT_CADENCE: MaintenanceCadence = { intervalMs: 5_000, youngRows: 100_000, minGapSeconds: 30 };

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
export async function analyzeStaleTables(db: Db, cadence: Pick<MaintenanceCadence, 'youngRows' | 'minGapSeconds'> = DEFAULT_CADENCE): Promise<string[]> {
  const stale = (await db.query<{ relname: string }>(ANALYZE_SQL, [cadence.youngRows, cadence.minGapSeconds])).rows.map((r) => r.relname);
  for (const table of stale) await db.query(`ANALYZE (SKIP_LOCKED) ${table.replace(/[^a-z0-9_]/g, '')}`);
  return stale;
}

/**
 * Tables due a VACUUM for their dead rows by autovacuum's own rule, on a server where autovacuum will not run
 * it (off for the server or for the table): more than 20 % of the rows (and 1,000) dead since the last vacuum.
 * A large table waits `minGapSeconds` since its last vacuum, as for ANALYZE. With autovacuum off nothing else
 * reclaims them: the work queues (audit_batch_queue, job_task) take a row in and out per item, an update
 * rewrites its resource's index rows, and a queue that is read by key walks every dead row it left.
 *
 * Rows inserted are not a reason here, unlike for autovacuum (whose insert rule sets the visibility map for
 * index-only scans): vacuuming the growing tables of a bulk load as they grew cost the cluster ~9 % more
 * CPU than the cheaper look-ups saved, and ingest ran slower (`bench/ingest-cpu.ts`, alternating with the
 * build without it, 2026-12-03; docs/configuration.md). Such a store gets its visibility map from a manual
 * `VACUUM` after the load, as the benchmark does (bench/phases.ts).
 */
export const VACUUM_SQL = `
  SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
  WHERE s.schemaname = current_schema()
    AND pg_has_role(c.relowner, 'USAGE')
    AND (current_setting('autovacuum') = 'off' OR 'autovacuum_enabled=false' = ANY(coalesce(c.reloptions, '{}')))
    AND s.n_dead_tup > greatest(1000, 0.2 * s.n_live_tup)
    AND (s.n_live_tup < $1 OR coalesce(greatest(s.last_vacuum, s.last_autovacuum), '-infinity') < now() - make_interval(secs => $2))`;

/**
 * VACUUMs the tables autovacuum would and will not (`VACUUM_SQL`), one at a time, on a connection of
 * its own: paced like autovacuum (`vacuum_cost_delay` 2 ms), so a bulk load beside it keeps the
 * disk, and without the statement timeout, which a vacuum of a large table can outlast. That
 * connection is closed afterwards, not returned to the pool with those settings. SKIP_LOCKED as for
 * ANALYZE. `signal` stops the round: the running vacuum is cancelled (its work so far stays: the
 * visibility map is WAL-logged as it goes), so shutdown does not wait for it. Returns the tables vacuumed.
 */
export async function vacuumStaleTables(
  db: Pick<Db, 'pool'>,
  cadence: Pick<MaintenanceCadence, 'youngRows' | 'minGapSeconds'> = DEFAULT_CADENCE,
  signal?: AbortSignal,
): Promise<string[]> {
  const client = await db.pool.connect();
  const cancel = () => void db.pool.query('SELECT pg_cancel_backend($1)', [(client as unknown as { processID: number }).processID]).catch(() => undefined);
  signal?.addEventListener('abort', cancel);
  let settingsChanged = false;
  try {
    const stale = (await client.query<{ relname: string }>(VACUUM_SQL, [cadence.youngRows, cadence.minGapSeconds])).rows.map((r) => r.relname);
    const vacuumed: string[] = [];
    if (stale.length === 0 || signal?.aborted) return vacuumed;
    settingsChanged = true;
    await client.query("SET statement_timeout = 0; SET vacuum_cost_delay = '2ms'");
    for (const table of stale) {
      if (signal?.aborted) break;
      await client.query(`VACUUM (SKIP_LOCKED) ${table.replace(/[^a-z0-9_]/g, '')}`);
      vacuumed.push(table);
    }
    return vacuumed;
  } finally {
    signal?.removeEventListener('abort', cancel);
    client.release(settingsChanged); // true: the pool closes it
  }
}

/** Runs `work` every `intervalMs`, never two at once, until stopped; its result goes to `done`, a failure to `warn`. */
function everyInterval<T>(intervalMs: number, work: () => Promise<T>, done: (result: T) => void, warn: (err: unknown) => void): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    work()
      .then(done, warn)
      .finally(() => (running = false));
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/**
 * Runs `analyzeStaleTables` and `vacuumStaleTables` every `cadence.intervalMs` until stopped, each in a
 * loop of its own: a long vacuum of a large table does not hold back fresh statistics.
 */
export function startMaintenance(db: Db, logger: Logger, cadence: MaintenanceCadence = DEFAULT_CADENCE): { stop(): void } {
  const analyze = everyInterval(
    cadence.intervalMs,
    () => analyzeStaleTables(db, cadence),
    (tables) => {
      if (tables.length > 0) logger.debug({ tables }, 'refreshed planner statistics');
    },
    (err) => logger.warn({ err: String(err) }, 'statistics refresh failed'),
  );
  const stopping = new AbortController();
  const vacuum = everyInterval(
    cadence.intervalMs,
    () => vacuumStaleTables(db, cadence, stopping.signal),
    (tables) => {
      if (tables.length > 0) logger.debug({ tables }, 'vacuumed tables autovacuum leaves alone');
    },
    (err) => {
      if (!stopping.signal.aborted) logger.warn({ err: String(err) }, 'vacuum failed');
    },
  );
  return {
    stop: () => {
      analyze.stop();
      vacuum.stop();
      stopping.abort();
    },
  };
}
