import type { Queryable } from './db.js';

/**
 * The database's default collation, which every text key of Haven's tables
 * (tenant, type, id, parameter, code, system, …) is compared and indexed with.
 * Haven's values are ids, codes and normalized strings: it needs byte order,
 * not a language's. Under the C collation PostgreSQL compares them with
 * memcmp; under a language collation each comparison goes through ICU or
 * strcoll: B-tree inserts of token rows took 43 % longer with `en-US-x-icu`
 * than with `C` (bench/collation-insert.ts; docs/configuration.md, "External
 * PostgreSQL").
 * The embedded server is initialised with `--locale=C`; an external database
 * has what its creator chose.
 */
export interface DatabaseCollation {
  /** `libc`, `icu` or `builtin` (PostgreSQL 17). */
  provider: string;
  /** LC_COLLATE for libc, the ICU locale or builtin locale otherwise. */
  locale: string;
}

const PROVIDERS: Record<string, string> = { c: 'libc', i: 'icu', b: 'builtin' };

export async function databaseCollation(db: Queryable): Promise<DatabaseCollation> {
  // datlocprovider exists from PostgreSQL 15 (Haven's minimum); the ICU and builtin locales are read as a
  // whole row so the query does not name columns a given major version lacks (daticulocale → datlocale in 17).
  const res = await db.query<{ provider: string; collate: string; row: Record<string, unknown> }>(
    `SELECT datlocprovider AS provider, datcollate AS collate, to_jsonb(d) AS row FROM pg_database d WHERE datname = current_database()`,
  );
  const r = res.rows[0]!;
  const provider = PROVIDERS[r.provider] ?? r.provider;
  const other = r.row['datlocale'] ?? r.row['daticulocale'];
  return { provider, locale: provider === 'libc' ? r.collate : typeof other === 'string' ? other : r.collate };
}

/**
 * Whether text compares in code-point order without a language library: libc
 * `C`/`POSIX` (memcmp), libc `C.UTF-8` (glibc's code-point order; measured
 * within 6 % of `C`), or the builtin provider's `C` / `C.UTF-8`.
 */
export function isBytewise(c: DatabaseCollation): boolean {
  if (c.provider === 'icu') return false;
  return /^(C|POSIX|C\.UTF-?8)$/i.test(c.locale);
}
