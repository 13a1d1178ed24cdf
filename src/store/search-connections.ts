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
 * The exception are statements whose plan does not depend on their values
 * (`StableSql`, src/search/plan-stability.ts: pages that select by id or by a
 * literal reference, include rounds). They run on a few connections of their
 * own with `plan_cache_mode = force_generic_plan`, so each is planned once per
 * connection too; without such connections they run on the custom ones.
 *
 * Shapes are bounded: the first `maxShapes` distinct statements of each kind
 * are named, later ones run unnamed as before, so an unusual mix of
 * parameters cannot grow every backend's prepared statements without limit.
 */
import pg from 'pg';
import { survivesConnectionLoss, translateDbError, type NamedSql, type Queryable, type StableSql } from './db.js';

/** Distinct statements a process names (each connection prepares at most these). */
export const MAX_SEARCH_SHAPES = 200;

export interface SearchConnections extends Queryable {
  /** The custom-planned connections. */
  readonly pool: pg.Pool;
  /** The generic-planned connections of StableSql statements; absent when none were given. */
  readonly stablePool?: pg.Pool;
  /** Statements named so far on the custom-planned connections (≤ maxShapes). */
  readonly shapes: number;
  close(): Promise<void>;
}

export interface SearchConnectionOptions {
  connectionString: string;
  maxConnections: number;
  /** Connections for StableSql statements, besides `maxConnections`; default none. */
  stableConnections?: number;
  statementTimeoutMs?: number;
  maxShapes?: number;
}

/** `sql` → statement name (`prefix.N`) for the first `max` distinct texts; undefined after that. */
export function createShapeNames(max: number, prefix = 'search'): { nameOf(sql: string): string | undefined; readonly size: number } {
  const names = new Map<string, string>();
  return {
    nameOf(sql) {
      const known = names.get(sql);
      if (known !== undefined || names.size >= max) return known;
      const name = `${prefix}.${names.size + 1}`;
      names.set(sql, name);
      return name;
    },
    get size() {
      return names.size;
    },
  };
}

/**
 * A pool whose connections all plan `mode`. The SET runs, and is awaited, on each new connection before the
 * pool hands it out. Should it fail, the pool closes the connection and the query that asked for it fails:
 * a named search statement must never run where another plan mode applies. (Queued from a 'connect'
 * listener instead, the SET and that query were pipelined on one client, which pg 8.23 warns about and
 * pg 9 removes.)
 */
function planningPool(options: SearchConnectionOptions, size: number, mode: 'force_custom_plan' | 'force_generic_plan'): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: size,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    onConnect: (client) => client.query(`SET plan_cache_mode = ${mode}`),
  });
  survivesConnectionLoss(pool);
  return pool;
}

export function createSearchConnections(options: SearchConnectionOptions): SearchConnections {
  const maxShapes = options.maxShapes ?? MAX_SEARCH_SHAPES;
  const pool = planningPool(options, options.maxConnections, 'force_custom_plan');
  const stableSize = options.stableConnections ?? 0;
  const stablePool = stableSize > 0 ? planningPool(options, stableSize, 'force_generic_plan') : undefined;
  const shapes = createShapeNames(maxShapes);
  const stableShapes = createShapeNames(maxShapes, 'stable');

  function route(sql: string | NamedSql | StableSql, params: unknown[] | undefined): [pg.Pool, pg.QueryConfig] {
    if (typeof sql !== 'string' && 'name' in sql) return [pool, { name: sql.name, text: sql.text, values: params }];
    const text = typeof sql === 'string' ? sql : sql.text;
    if (typeof sql !== 'string' && stablePool) return [stablePool, { ...withName(stableShapes.nameOf(text)), text, values: params }];
    return [pool, { ...withName(shapes.nameOf(text)), text, values: params }];
  }

  return {
    pool,
    ...(stablePool ? { stablePool } : {}),
    async query(sql, params) {
      const [target, config] = route(sql, params);
      try {
        return await target.query(config);
      } catch (err) {
        throw translateDbError(err);
      }
    },
    get shapes() {
      return shapes.size;
    },
    async close() {
      await Promise.all([pool.end(), stablePool?.end()]);
    },
  };
}

function withName(name: string | undefined): { name?: string } {
  return name === undefined ? {} : { name };
}
