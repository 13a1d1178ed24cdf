import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

/** Migrations live as numbered SQL files in src/store/migrations (read from source, shipped in the package). */
export function migrationsDir(): string {
  // Compiled file sits in dist/src/store; the SQL stays in src/store/migrations.
  const here = dirname(fileURLToPath(import.meta.url));
  const fromDist = join(here, '..', '..', '..', 'src', 'store', 'migrations');
  const fromSrc = join(here, 'migrations');
  try {
    readdirSync(fromSrc);
    return fromSrc;
  } catch {
    return fromDist;
  }
}

// One advisory lock id for migrations, so several nodes starting at once migrate once.
const MIGRATION_LOCK = 7_421_001;

/**
 * Applies pending migrations in order, each in its own transaction. Returns the versions applied.
 * `upTo` stops after that version (upgrade tests build an older schema with it).
 */
export async function migrate(db: Db, options: { upTo?: string } = {}): Promise<string[]> {
  const files = readdirSync(migrationsDir())
    .filter((f) => /^\d{3}-.+\.sql$/.test(f) && (options.upTo === undefined || f.slice(0, 3) <= options.upTo))
    .sort();
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await tx.query(
      'CREATE TABLE IF NOT EXISTS schema_migration (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await tx.query<{ version: string }>('SELECT version FROM schema_migration')).rows.map((r) => r.version));
    const applied: string[] = [];
    for (const file of files) {
      const version = file.slice(0, 3);
      if (done.has(version)) continue;
      await tx.query(readFileSync(join(migrationsDir(), file), 'utf8'));
      await tx.query('INSERT INTO schema_migration (version) VALUES ($1)', [version]);
      applied.push(version);
    }
    return applied;
  });
}
