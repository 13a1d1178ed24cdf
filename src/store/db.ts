import pg from 'pg';
import { HavenError } from '../kernel/index.js';
import { createSearchConnections, type SearchConnections } from './search-connections.js';

/** The subset of a pg client that queries need; satisfied by a pool and by a transaction client. */
export interface Queryable {
  /**
   * `sql` may be a named statement ({ name, text }) so PostgreSQL caches its plan on each connection,
   * or a search statement whose plan does not depend on its values (StableSql).
   */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string | NamedSql | StableSql,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface NamedSql {
  name: string;
  text: string;
}

/**
 * A search statement that may run with a generic plan (src/search/plan-stability.ts): the search
 * connections name it on connections of their own that plan generically; anywhere else it runs
 * unnamed, like any statement.
 */
export interface StableSql {
  stablePlan: true;
  text: string;
}

function toConfig(sql: string | NamedSql | StableSql, params: unknown[] | undefined): pg.QueryConfig {
  if (typeof sql === 'string') return { text: sql, values: params };
  return 'name' in sql ? { name: sql.name, text: sql.text, values: params } : { text: sql.text, values: params };
}

/** One PostgreSQL client for embedded and external databases. */
export interface Db extends Queryable {
  /** Run `work` in one transaction; commit on success, roll back on throw. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** True when a trivial query succeeds. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
  readonly pool: pg.Pool;
  /** Where search statements run (search-connections.ts); absent when the pool is too small to share. */
  readonly search?: Queryable;
  /**
   * Connections of their own for the short statements that code inside a write transaction waits
   * for on the side: the read-audit group commit (a conditional create's search is a read), the key
   * ring's status checks, the custom search parameters' version check. From the main pool, such a
   * statement waits for a connection that only a transaction holding one can free: with as many
   * concurrent write transactions as connections, every one of them waited out the connect timeout
   * (503). The same Db when the pool is too small to spare any (under 4 besides the search share).
   */
  readonly control: Pick<Db, 'query' | 'transaction' | 'pool'>;
}

// Error classes from PostgreSQL that mean "the database is not there right now".
const unavailableCodes = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53300']);
const connectionErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'ETIMEDOUT', 'ENOENT']);

/** Map driver errors that mean "database down" to a 503-category HavenError. */
export function translateDbError(err: unknown): unknown {
  if (err instanceof HavenError) return err;
  const e = err as { code?: string; message?: string };
  // Two transactions wanting the same thing at once: the one PostgreSQL stopped can simply retry.
  if (e.code === '40P01' || e.code === '40001' || e.code === '23505') {
    return new HavenError('conflict', 'DB_CONCURRENT_CONFLICT', 'A concurrent request changed the same data at the same moment; nothing of this one was written. Retry it', {
      cause: err,
    });
  }
  if (e.code === '57014') {
    return new HavenError('unavailable', 'DB_STATEMENT_TIMEOUT', 'The database cancelled the query because it ran too long; narrow the request or try again', {
      cause: err,
    });
  }
  if (
    (e.code && (unavailableCodes.has(e.code) || connectionErrnos.has(e.code))) ||
    /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      e.message ?? '',
    )
  ) {
    return new HavenError('unavailable', 'DB_UNAVAILABLE', 'The database is unavailable; try again shortly', {
      cause: err,
    });
  }
  return err;
}

/**
 * Connections for `Db.control`, from what the search share leaves: 3 (the read-audit group commit
 * with its one batch in flight, the key ring, the search parameter check) from 8, 1 from 4, none
 * below (the CLI's pools of 1-2, which run one thing at a time).
 */
function controlShare(rest: number): number {
  return rest >= 8 ? 3 : rest >= 4 ? 1 : 0;
}

export interface DbOptions {
  connectionString: string;
  maxConnections?: number;
  /** Applied to every connection. */
  statementTimeoutMs?: number;
  /**
   * Of `maxConnections`, how many are kept for search statements (search-connections.ts).
   * Default: a quarter of a pool of 4 or more, none below that; a third as many again plan
   * generically (stableShare). The total stays `maxConnections`.
   */
  searchConnections?: number;
}

function searchShare(max: number, asked: number | undefined): number {
  const share = asked ?? (max >= 4 ? Math.floor(max / 4) : 0);
  return Math.max(0, Math.min(share, max - 1));
}

/**
 * Generic-planned search connections (search-connections.ts, StableSql), taken from the main
 * connections, not from the search share: a third of the search share (2 of the default pool's
 * 5), when that share is at least 2 and at least 3 main connections remain besides them.
 */
function stableShare(searchMax: number, main: number): number {
  const share = searchMax >= 2 ? Math.ceil(searchMax / 3) : 0;
  return main - share >= 3 ? share : 0;
}

/**
 * A connection the database drops (restart, kill, `pg_terminate_backend`)
 * must not crash the process. The pool's own listener covers idle clients
 * only: it is removed while a client is checked out, and a client emits
 * `error` on an unexpected end even when its query has already failed with
 * it, so a transaction in flight at that moment threw an uncaught error.
 * Every client gets a listener of its own for its whole life; the failure
 * still reaches the query (rejected, answered 503) and the pool drops the
 * client when it is released.
 */
export function survivesConnectionLoss(pool: pg.Pool): void {
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
}

export function createDb(options: DbOptions): Db {
  const max = options.maxConnections ?? 20;
  const searchMax = searchShare(max, options.searchConnections);
  const controlMax = controlShare(max - searchMax);
  const stableMax = stableShare(searchMax, max - searchMax - controlMax);
  const newPool = (size: number) => {
    const p = new pg.Pool({
      connectionString: options.connectionString,
      max: size,
      connectionTimeoutMillis: 5000,
      idleTimeoutMillis: 30000,
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    });
    survivesConnectionLoss(p);
    return p;
  };
  const pool = newPool(max - searchMax - controlMax - stableMax);
  const controlPool = controlMax > 0 ? newPool(controlMax) : undefined;
  const search: SearchConnections | undefined =
    searchMax > 0
      ? createSearchConnections({
          connectionString: options.connectionString,
          maxConnections: searchMax,
          stableConnections: stableMax,
          ...(options.statementTimeoutMs ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
        })
      : undefined;
  const main = poolBacked(pool);

  return {
    ...main,
    ...(search ? { search } : {}),
    control: controlPool ? poolBacked(controlPool) : main,
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.all([pool.end(), controlPool?.end(), search?.close()]);
    },
  };
}

/** Queries and transactions on one pool, with driver errors translated (translateDbError). */
function poolBacked(pool: pg.Pool): Pick<Db, 'query' | 'transaction' | 'pool'> {
  const query: Db['query'] = async (sql, params) => {
    try {
      return await pool.query(toConfig(sql, params));
    } catch (err) {
      throw translateDbError(err);
    }
  };
  return {
    pool,
    query,
    async transaction(work) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw translateDbError(err);
      }
      let broken = false;
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          query: async (sql, params) => {
            try {
              return await client.query(toConfig(sql, params));
            } catch (err) {
              throw translateDbError(err);
            }
          },
        };
        const result = await work(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw translateDbError(err);
      } finally {
        client.release(broken);
      }
    },
  };
}
