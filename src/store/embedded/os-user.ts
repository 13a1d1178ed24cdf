import { execFileSync } from 'node:child_process';
import { userInfo } from 'node:os';

/** uid/gid under which the database server runs. */
export interface RunAs {
  uid?: number;
  gid?: number;
}

/**
 * PostgreSQL refuses to run as root. When Haven runs as root the database
 * server runs as an unprivileged account (`postgres` unless
 * configured); otherwise as the current user.
 */
export function databaseOsUser(name = 'postgres'): RunAs {
  if (userInfo().uid !== 0) return {};
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch {
    throw new Error(
      `Haven runs as root, and PostgreSQL cannot: create an unprivileged OS user named "${name}" (useradd --system ${name}) or run Haven as a normal user`,
    );
  }
}
