import pg from 'pg';
import { HavenError } from '../kernel/index.js';
import { createSearchConnections, type SearchConnections } from './search-connections.js';

/** The subset of a pg client that queries need; satisfied by a pool and by a transaction client. */
export interface Queryable {
  /** `sql` may be a named statement ({ name, text }) so PostgreSQL caches its plan on each connection. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string | NamedSql,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>>;
}

export interface NamedSql {
  name: string;
  text: string;
}

function toConfig(sql: string | NamedSql, params: unknown[] | undefined): pg.QueryConfig {
  return typeof sql === 'string' ? { text: sql, values: params } : { name: sql.name, text: sql.text, values: params };
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
}

// Error classes from PostgreSQL that mean "the database is not there right now".
const unavailableCodes = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '53300']);
const connectionErrnos = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'ETIMEDOUT', 'ENOENT']);

/** Map driver errors that mean "database down" to a 503-category HavenError. */
export function translateDbError(err: unknown): unknown {
  if (err instanceof HavenError) return err;
  const e = err as { code?: string; message?: string };
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

export interface DbOptions {
  connectionString: string;
  maxConnections?: number;
  /** Applied to every connection. */
  statementTimeoutMs?: number;
  /**
   * Of `maxConnections`, how many are kept for search statements (search-connections.ts).
   * Default: a quarter of a pool of 4 or more, none below that. The total stays `maxConnections`.
   */
  searchConnections?: number;
}

function searchShare(max: number, asked: number | undefined): number {
  const share = asked ?? (max >= 4 ? Math.floor(max / 4) : 0);
  return Math.max(0, Math.min(share, max - 1));
}

export function createDb(options: DbOptions): Db {
  const max = options.maxConnections ?? 20;
  const searchMax = searchShare(max, options.searchConnections);
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: max - searchMax,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', () => undefined);
  const search: SearchConnections | undefined =
    searchMax > 0
      ? createSearchConnections({
          connectionString: options.connectionString,
          maxConnections: searchMax,
          ...(options.statementTimeoutMs ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
        })
      : undefined;

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
    ...(search ? { search } : {}),
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
    async ping() {
      try {
        await pool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.all([pool.end(), search?.close()]);
    },
  };
}
