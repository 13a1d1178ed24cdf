import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { createDb, type Db } from '../../src/store/db.js';
import { migrate } from '../../src/store/migrate.js';

/**
 * A throwaway database per test file on the PostgreSQL the test run uses:
 * `TEST_DATABASE_URL` (set by scripts/run-tests.js to the embedded server it
 * started, or to the external one given as DATABASE_URL).
 */
export interface TestDb {
  db: Db;
  url: string;
  drop(): Promise<void>;
}

export function testServerUrl(): string {
  return process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
}

export async function createTestDb(options: { migrate?: boolean } = {}): Promise<TestDb> {
  const serverUrl = testServerUrl();
  const name = `haven_t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(serverUrl, name);
  const db = createDb({ connectionString: url, maxConnections: 10 });
  if (options.migrate !== false) await migrate(db);
  return {
    db,
    url,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
