import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { createKmsFromConfig, rotateKek, type KekRotationResult } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import { createDb, createEmbeddedPostgres, migrate, type Db, type EmbeddedPostgres } from '../store/index.js';
import type { ParsedArgs } from './args.js';

export const KEYS_HELP = `haven keys <subcommand>

  keys status        Show the KMS in use and the data keys (per tenant and purpose), never key material
  keys rotate --kek  Create a new key-encryption key in the KMS and re-wrap every data key with it
                     (one database transaction; data is not re-encrypted). The old KEK is kept,
                     retired, so backups taken before the rotation stay readable.

With the embedded database, stop the server first (the database belongs to the server process);
with DATABASE_URL, run it while the server runs.`;

/** Refuses to touch an embedded cluster that a running server owns. */
function assertEmbeddedIdle(dataDir: string): void {
  const pidFile = join(dataDir, 'pg', 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  try {
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 0);
    else return;
  } catch {
    return; // stale pid file
  }
  throw new HavenError('incorrect', 'KEYS_SERVER_RUNNING', `The embedded database in ${dataDir} is in use by a running Haven (pid ${pid}); stop the server, then run haven keys again`);
}

async function withDatabase<T>(config: HavenConfig, logger: Logger, work: (db: Db) => Promise<T>): Promise<T> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.database.url;
  if (!url) {
    const dataDir = resolve(config.dataDir);
    assertEmbeddedIdle(dataDir);
    embedded = createEmbeddedPostgres({ dataDir, osUser: config.database.osUser, supervise: false, logger: logger.child({ component: 'embedded-postgres' }) });
    await embedded.start();
    url = embedded.connectionString;
  }
  const db = createDb({ connectionString: url, maxConnections: 2 });
  try {
    await migrate(db);
    return await work(db);
  } finally {
    await db.close();
    if (embedded) await embedded.stop();
  }
}

export async function rotateKekCommand(config: HavenConfig, logger: Logger): Promise<KekRotationResult> {
  if (config.kms.encryption === 'off') throw new HavenError('incorrect', 'KEYS_ENCRYPTION_OFF', 'Encryption is off (HAVEN_ENCRYPTION=off): there are no data keys to re-wrap');
  return withDatabase(config, logger, async (db) => {
    const kms = await createKmsFromConfig(config, logger);
    try {
      return await rotateKek({ db, kms, logger });
    } finally {
      await kms.close();
    }
  });
}

type StatusRow = { tenant_id: string; purpose: string; version: number; status: string; kek_id: string; created_at: Date; rewrapped_at: Date | null };

export async function keysStatus(config: HavenConfig, logger: Logger): Promise<{ kms: string; keys: StatusRow[] }> {
  return withDatabase(config, logger, async (db) => {
    const kms = await createKmsFromConfig(config, logger);
    try {
      const d = kms.describe();
      const rows = await db.query<StatusRow>('SELECT tenant_id, purpose, version, status, kek_id, created_at, rewrapped_at FROM data_key ORDER BY tenant_id, purpose, version');
      return { kms: `${d.provider} ${d.kekId} (${d.detail})`, keys: rows.rows };
    } finally {
      await kms.close();
    }
  });
}

/** `haven keys …`: returns the exit code; prints ids and counts only, never key material. */
export async function keysCommand(args: ParsedArgs, config: HavenConfig, logger: Logger, print: (line: string) => void): Promise<number> {
  const sub = args.positionals[1];
  if (sub === 'rotate' && args.options.has('kek')) {
    const r = await rotateKekCommand(config, logger);
    print(`KEK rotated: ${r.from} -> ${r.to}; ${r.rewrapped} data key(s) re-wrapped`);
    return 0;
  }
  if (sub === 'status') {
    const s = await keysStatus(config, logger);
    print(`KMS: ${s.kms}`);
    for (const k of s.keys) print(`${k.tenant_id}\t${k.purpose}\tv${k.version}\t${k.status}\t${k.kek_id}\t${k.created_at.toISOString()}`);
    return 0;
  }
  print(sub === 'rotate' ? `haven keys rotate needs --kek (DEK rotation is not available yet)\n\n${KEYS_HELP}` : KEYS_HELP);
  return 64;
}
