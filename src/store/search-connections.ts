/**
 * The connections search statements run on. A search statement is mostly
 * planning (docs/search.md, "CPU per search"), and the rest of its PostgreSQL
 * work each time is parsing and analysing the same few SQL shapes again. Here
 * each shape is a named statement, parsed once per connection, while
 * `plan_cache_mode = force_custom_plan` keeps planning it with the actual
 * values every time: a generic plan cannot tell a selective patient reference
 * from a common code (ADR 0002). The setting is why these are connections of
 * their own: the store's other named statements (reads by id, the audit
 * insert) are worth their generic plans.
 *
 * Shapes are bounded: the first `maxShapes` distinct statements are named,
 * later ones run unnamed as before, so an unusual mix of parameters cannot
 * grow every backend's prepared statements without limit.
 */
import pg from 'pg';
import { survivesConnectionLoss, translateDbError, type Queryable } from './db.js';

/** Distinct statements a process names (each connection prepares at most these). */
export const MAX_SEARCH_SHAPES = 200;

export interface SearchConnections extends Queryable {
  readonly pool: pg.Pool;
  /** Statements named so far (≤ maxShapes). */
  readonly shapes: number;
  close(): Promise<void>;
}

export interface SearchConnectionOptions {
  connectionString: string;
  maxConnections: number;
  statementTimeoutMs?: number;
  maxShapes?: number;
}

/** `sql` → statement name for the first `max` distinct texts; undefined after that. */
export function createShapeNames(max: number): { nameOf(sql: string): string | undefined; readonly size: number } {
  const names = new Map<string, string>();
  return {
    nameOf(sql) {
      const known = names.get(sql);
      if (known !== undefined || names.size >= max) return known;
      const name = `search.${names.size + 1}`;
      names.set(sql, name);
      return name;
    },
    get size() {
      return names.size;
    },
  };
}

export function createSearchConnections(options: SearchConnectionOptions): SearchConnections {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    // Run, and awaited, on each new connection before the pool hands it out. Should it fail, the pool closes
    // the connection and the query that asked for it fails: a named search statement must never run where
    // generic plans are allowed. (Queued from a 'connect' listener instead, the SET and that query were
    // pipelined on one client, which pg 8.23 warns about and pg 9 removes.)
    onConnect: (client) => client.query('SET plan_cache_mode = force_custom_plan'),
  });
  survivesConnectionLoss(pool);
  const shapes = createShapeNames(options.maxShapes ?? MAX_SEARCH_SHAPES);
  return {
    pool,
    async query(sql, params) {
      const config: pg.QueryConfig =
        typeof sql === 'string'
          ? { ...withName(shapes.nameOf(sql)), text: sql, values: params }
          : { name: sql.name, text: sql.text, values: params };
      try {
        return await pool.query(config);
      } catch (err) {
        throw translateDbError(err);
      }
    },
    get shapes() {
      return shapes.size;
    },
    async close() {
      await pool.end();
    },
  };
}

function withName(name: string | undefined): { name?: string } {
  return name === undefined ? {} : { name };
}
