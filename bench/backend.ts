/** Where each backend keeps its data, and a direct database connection for EXPLAIN and COPY. */
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import type { Backend, BenchOptions } from './options.js';

export interface BackendSetup {
  backend: Backend;
  dataDir: string;
  /** Passed to the server as DATABASE_URL; absent for embedded. */
  serverDatabaseUrl?: string;
  /** For the harness's own queries (EXPLAIN, COPY, counts). */
  directUrl: string;
}

// BENCH_DATABASE lets parallel benchmark runs on one PostgreSQL keep separate stores.
const BENCH_DATABASE = process.env.BENCH_DATABASE ?? 'haven_bench';
if (!/^[a-z_][a-z0-9_]{0,62}$/.test(BENCH_DATABASE)) throw new Error('BENCH_DATABASE must be a lower-case SQL identifier');

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function assertLocal(url: string): void {
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '') throw new Error(`the benchmark only targets 127.0.0.1, not ${host}`);
}

/** A fresh, empty store for `backend` (unless --reuse): the data dir is wiped, the external database dropped and recreated. */
export async function freshBackend(backend: Backend, opts: BenchOptions): Promise<BackendSetup> {
  const dataDir = resolve(join(opts.dataRoot, backend));
  if (!opts.reuse) rmSync(dataDir, { recursive: true, force: true });
  if (backend === 'embedded') {
    // The embedded server listens only on a Unix socket in <dataDir>/run (src/store/embedded/server.ts).
    return { backend, dataDir, directUrl: `postgresql://postgres@${encodeURIComponent(join(dataDir, 'run'))}/haven` };
  }
  assertLocal(opts.externalUrl);
  const url = withDatabase(opts.externalUrl, BENCH_DATABASE);
  if (opts.reuse) return { backend, dataDir, serverDatabaseUrl: url, directUrl: url };
  const admin = new pg.Client({ connectionString: opts.externalUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${BENCH_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${BENCH_DATABASE}`);
  } finally {
    await admin.end();
  }
  return { backend, dataDir, serverDatabaseUrl: url, directUrl: url };
}

export async function connectDirect(setup: BackendSetup): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: setup.directUrl });
  await client.connect();
  return client;
}

export interface StoreFacts {
  postgresVersion: string;
  resourcesByType: Record<string, number>;
  totalResources: number;
  databaseSizeMb: number;
  settings: Record<string, string>;
}

export async function storeFacts(db: pg.Client): Promise<StoreFacts> {
  const version = (await db.query<{ v: string }>('SELECT version() AS v')).rows[0]?.v ?? 'unknown';
  const counts = await db.query<{ resource_type: string; n: string }>('SELECT resource_type, count(*) AS n FROM resource GROUP BY 1 ORDER BY 1');
  const size = await db.query<{ mb: string }>('SELECT round(pg_database_size(current_database()) / 1048576.0) AS mb');
  const settings = await db.query<{ name: string; setting: string }>(
    "SELECT name, setting FROM pg_settings WHERE name IN ('shared_buffers','synchronous_commit','fsync','max_wal_size','work_mem','wal_level')",
  );
  const resourcesByType = Object.fromEntries(counts.rows.map((r) => [r.resource_type, Number(r.n)]));
  return {
    postgresVersion: version,
    resourcesByType,
    totalResources: Object.values(resourcesByType).reduce((a, b) => a + b, 0),
    databaseSizeMb: Number(size.rows[0]?.mb ?? 0),
    settings: Object.fromEntries(settings.rows.map((r) => [r.name, r.setting])),
  };
}
