import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, chmodSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { silentLogger, type Logger } from '../../kernel/index.js';
import { locateBinaries, type PgBinaries } from './binaries.js';
import { defaultSharedBuffersMb } from './memory.js';
import { databaseOsUser, type RunAs } from './os-user.js';

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgresOptions {
  /** Haven's data directory; the cluster lives in `<dataDir>/pg`. */
  dataDir: string;
  logger?: Logger;
  /** Restart the server when it dies unexpectedly (default true). */
  supervise?: boolean;
  /** OS account for the server when Haven runs as root (default `postgres`). */
  osUser?: string;
  /** `shared_buffers` in MB (default: an eighth of the memory, 128 MB to 2 GB; see memory.ts). */
  sharedBuffersMb?: number | undefined;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string>;
}

export interface EmbeddedPostgres {
  /** Connection string for Haven's database over the private Unix socket. */
  readonly connectionString: string;
  /** Connection string for the `postgres` maintenance database. */
  readonly adminConnectionString: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  isRunning(): boolean;
  /** PID of the running server process (for tests and diagnostics). */
  pid(): number | undefined;
}

export const HAVEN_DATABASE = 'haven';

/**
 * A native PostgreSQL that Haven initialises, starts, supervises and stops.
 * It listens only on a Unix socket inside the data directory (no TCP port:
 * nothing to collide with, nothing exposed), with fsync and synchronous commit
 * on, so an acknowledged write survives a crash of Haven, of the database
 * server or of the machine.
 */
export function createEmbeddedPostgres(options: EmbeddedPostgresOptions): EmbeddedPostgres {
  const logger = options.logger ?? silentLogger;
  const dataDir = resolve(options.dataDir);
  const pgData = join(dataDir, 'pg');
  const socketDir = join(dataDir, 'run');
  const logDir = join(dataDir, 'log');
  const host = encodeURIComponent(socketDir);
  const connectionString = `postgresql://postgres@${host}/${HAVEN_DATABASE}`;
  const adminConnectionString = `postgresql://postgres@${host}/postgres`;
  let child: ChildProcess | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  let bins: PgBinaries | undefined;
  let runAs: RunAs = {};

  function prepareDirectories(): void {
    mkdirSync(dataDir, { recursive: true });
    // The database OS user only needs to traverse Haven's directory.
    if (runAs.uid !== undefined) chmodSync(dataDir, 0o711);
    for (const dir of [pgData, socketDir, logDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      if (runAs.uid !== undefined && runAs.gid !== undefined) chownSync(dir, runAs.uid, runAs.gid);
    }
  }

  async function initialiseIfNeeded(): Promise<boolean> {
    if (existsSync(join(pgData, 'PG_VERSION'))) return false;
    logger.info({ dataDir }, 'initialising embedded PostgreSQL cluster');
    await execFileAsync(
      bins!.initdb,
      [`--pgdata=${pgData}`, '--auth=trust', '--username=postgres', '--encoding=UTF8', '--locale=C', '--no-instructions'],
      { ...runAs, env: { ...process.env, LC_ALL: 'C' } },
    );
    return true;
  }

  async function stopStaleServer(): Promise<void> {
    const pidFile = join(pgData, 'postmaster.pid');
    if (!existsSync(pidFile)) return;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || !isPostgresProcess(pid)) return;
    // A server left running by a Haven process that was killed: shut it down
    // cleanly (it flushes everything) and start our own supervised one.
    logger.warn({ pid }, 'stopping embedded PostgreSQL left running by a previous Haven process');
    process.kill(pid, 'SIGINT');
    await waitFor(() => !processAlive(pid), 60_000, 'previous PostgreSQL server to stop');
  }

  function spawnServer(): ChildProcess {
    const settings: Record<string, string> = {
      listen_addresses: '',
      unix_socket_directories: socketDir,
      unix_socket_permissions: '0700',
      fsync: 'on',
      synchronous_commit: 'on',
      full_page_writes: 'on',
      max_connections: '100',
      shared_buffers: `${options.sharedBuffersMb ?? defaultSharedBuffersMb()}MB`,
      // Fewer checkpoints during bulk loads; crash recovery replays at most this much WAL.
      max_wal_size: '2GB',
      ...options.settings,
    };
    const args = ['-D', pgData, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const log = openSync(join(logDir, 'postgres.log'), 'a');
    // Detached into its own process group: a Ctrl-C aimed at Haven must not
    // kill the database before Haven has drained its requests.
    const proc = spawn(bins!.postgres, args, { ...runAs, detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    proc.on('exit', (code, signal) => onServerExit(proc, code, signal));
    return proc;
  }

  function onServerExit(proc: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== proc) return;
    child = undefined;
    if (stopping || options.supervise === false) return;
    logger.error({ code, signal }, 'embedded PostgreSQL exited unexpectedly; restarting');
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      startServer().catch((err: unknown) => logger.error({ err: String(err) }, 'embedded PostgreSQL restart failed'));
    }, 250);
  }

  async function startServer(): Promise<void> {
    if (stopping) return;
    await stopStaleServer();
    child = spawnServer();
    const proc = child;
    await waitFor(async () => {
      if (child !== proc) throw new Error(`embedded PostgreSQL failed to start; see ${join(logDir, 'postgres.log')}`);
      return canConnect(adminConnectionString);
    }, 60_000, 'embedded PostgreSQL to accept connections');
  }

  async function ensureDatabase(): Promise<void> {
    const client = new pg.Client({ connectionString: adminConnectionString });
    await client.connect();
    try {
      const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [HAVEN_DATABASE]);
      if (found.rowCount === 0) await client.query(`CREATE DATABASE ${HAVEN_DATABASE}`);
    } finally {
      await client.end();
    }
  }

  return {
    connectionString,
    adminConnectionString,
    async start() {
      stopping = false;
      bins ??= await locateBinaries();
      runAs = databaseOsUser(options.osUser);
      prepareDirectories();
      await initialiseIfNeeded();
      await startServer();
      await ensureDatabase();
    },
    async stop() {
      stopping = true;
      if (restartTimer) clearTimeout(restartTimer);
      const proc = child;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise<void>((res) => proc.once('exit', () => res()));
      proc.kill('SIGINT'); // fast shutdown: roll back open transactions, checkpoint, exit
      await exited;
    },
    isRunning: () => child !== undefined && child.exitCode === null,
    pid: () => child?.pid,
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isPostgresProcess(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('postgres');
  } catch {
    return true; // no /proc: trust the pid file
  }
}

async function canConnect(connectionString: string): Promise<boolean> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
