import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { createKmsFromConfig, PURPOSES, ROTATABLE_PURPOSES, rotateKek, type KekRotationResult, type KeyPurpose } from '../crypto/index.js';
import { HavenError, type Logger } from '../kernel/index.js';
import { recordKeyOperation, signingKeyRewrap } from '../audit/index.js';
import { createDb, createEmbeddedPostgres, migrate, type Db, type EmbeddedPostgres } from '../store/index.js';
import { reencryptionStatus, retryFailedReencryption } from '../store/reencrypt/worker.js';
import { intOption, stringOption, type ParsedArgs } from './args.js';
import { blobDirOf } from './backup-command.js';
import { cliActor, destroyRetired, startDekRotations, usageCounter, workReencryption } from './keys-dek.js';

export const KEYS_HELP = `haven keys <subcommand>

  keys status        Show the KMS in use and the data keys (per tenant and purpose), never key material
  keys rotate --dek [--tenant T] [--purpose resources|blobs] [--background]
                     Create the next data-key version of every rotatable purpose (or only --purpose):
                     resources (bodies, history, HL7 v2 messages) and blobs (export files, audit
                     archive). New writes use it at once (running nodes notice within 5 s), then
                     existing rows and blob files are re-encrypted in a resumable background job
                     (run here unless --background: a server's worker role or 'keys reencrypt' does it)
  keys reencrypt [--max-batches N] [--retry-failed]
                     Run (or resume) queued re-encryption work in this process; --retry-failed first
                     re-opens tasks that failed (e.g. on a damaged row that has since been restored)
  keys destroy-retired [--tenant T]
                     Destroy retired data keys that no stored row uses any more (checked first)
  keys rotate --kek  Create a new key-encryption key in the KMS and re-wrap every data key (and the
                     audit log's tree-head signing key) with it
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
  throw new HavenError('incorrect', 'KEYS_SERVER_RUNNING', `The embedded database in ${dataDir} is in use by a running Haven (pid ${pid}); stop the server, then run the command again (haven keys, tenant, backup and restore need the database to themselves)`);
}

export async function withDatabase<T>(config: HavenConfig, logger: Logger, work: (db: Db) => Promise<T>): Promise<T> {
  let embedded: EmbeddedPostgres | undefined;
  let url = config.database.url;
  if (!url) {
    const dataDir = resolve(config.dataDir);
    assertEmbeddedIdle(dataDir);
    embedded = createEmbeddedPostgres({
      dataDir,
      osUser: config.database.osUser,
      sharedBuffersMb: config.database.embeddedSharedBuffersMb,
      supervise: false,
      logger: logger.child({ component: 'embedded-postgres' }),
    });
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
      // The audit log's tree-head signing key is wrapped by the same KEK: re-wrapped in the same transaction.
      const signingKeys: string[] = [];
      const r = await rotateKek({ db, kms, logger, rewrapSecrets: signingKeyRewrap(signingKeys) });
      await recordKeyOperation(db, { tenant: 'default', operation: 'keys-rotate-kek', actor: cliActor(), keys: [`kek/${r.from}`, `kek/${r.to}`] });
      for (const id of signingKeys) await recordKeyOperation(db, { tenant: 'default', operation: 'audit-signing-key-rewrap', actor: cliActor(), keys: [`audit-signing/${id}`] });
      return r;
    } finally {
      await kms.close();
    }
  });
}

type StatusRow = { tenant_id: string; purpose: string; version: number; status: string; kek_id: string; created_at: Date; rewrapped_at: Date | null; in_use: number | null };

export async function keysStatus(config: HavenConfig, logger: Logger): Promise<{ kms: string; keys: StatusRow[]; jobs: Awaited<ReturnType<typeof reencryptionStatus>> }> {
  return withDatabase(config, logger, async (db) => {
    const kms = await createKmsFromConfig(config, logger);
    try {
      const d = kms.describe();
      const rows = await db.query<StatusRow>('SELECT tenant_id, purpose, version, status, kek_id, created_at, rewrapped_at FROM data_key ORDER BY tenant_id, purpose, version');
      const blobDir = blobDirOf(config);
      for (const r of rows.rows) {
        const count = r.status === 'destroyed' ? undefined : usageCounter({ blobDir }, { ...r, purpose: r.purpose as KeyPurpose });
        r.in_use = count ? await count(db) : null;
      }
      return { kms: `${d.provider} ${d.kekId} (${d.detail})`, keys: rows.rows, jobs: await reencryptionStatus(db) };
    } finally {
      await kms.close();
    }
  });
}

/** `--purpose P`, or every rotatable purpose. */
function parsePurposes(args: ParsedArgs): KeyPurpose[] {
  const p = stringOption(args, 'purpose');
  if (p === undefined) return [...ROTATABLE_PURPOSES];
  if (!(PURPOSES as readonly string[]).includes(p)) throw new HavenError('incorrect', 'KEYS_PURPOSE_UNKNOWN', `--purpose must be one of ${PURPOSES.join(', ')}`);
  return [p as KeyPurpose];
}

/** rotate --dek, reencrypt, destroy-retired; undefined when `sub` is none of them. */
async function dekSubcommand(sub: string | undefined, args: ParsedArgs, config: HavenConfig, logger: Logger, print: (line: string) => void): Promise<number | undefined> {
  const isRotate = sub === 'rotate' && args.options.has('dek');
  if (!isRotate && sub !== 'reencrypt' && sub !== 'destroy-retired') return undefined;
  if (config.kms.encryption === 'off') throw new HavenError('incorrect', 'KEYS_ENCRYPTION_OFF', 'Encryption is off (HAVEN_ENCRYPTION=off): there are no data keys');
  return withDatabase(config, logger, async (db) => {
    const kms = await createKmsFromConfig(config, logger);
    try {
      const deps = { db, kms, logger, settleMs: 2 * config.kms.dekRefreshSeconds * 1000, blobDir: blobDirOf(config) };
      if (sub === 'destroy-retired') {
        const r = await destroyRetired(deps, stringOption(args, 'tenant'));
        for (const k of r.destroyed) print(`destroyed ${k}`);
        for (const k of r.kept) print(`kept ${k.key}: ${k.reason}`);
        return 0;
      }
      if (isRotate) {
        for (const r of await startDekRotations(deps, stringOption(args, 'tenant'), parsePurposes(args))) print(`DEK rotated: ${r.tenant} ${r.purpose} v${r.from ?? '-'} -> v${r.to}; ${r.jobId ? `job ${r.jobId}` : 'no re-encryption (older versions stay readable)'}`);
        if (args.options.has('background')) return 0;
      }
      if (sub === 'reencrypt' && args.options.has('retry-failed')) print(`${await retryFailedReencryption(db)} failed task(s) made available again`);
      const run = await workReencryption(deps, args.options.has('max-batches') ? { maxBatches: intOption(args, 'max-batches', 0) } : {});
      print(`re-encryption: ${run.batches} batch(es), ${run.tasksDone} task(s) finished`);
      return 0;
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
    if (r.secrets > 0) print(`audit signing key(s) re-wrapped: ${r.secrets}`);
    return 0;
  }
  if (sub === 'status') {
    const s = await keysStatus(config, logger);
    print(`KMS: ${s.kms}`);
    for (const k of s.keys) print(`${k.tenant_id}\t${k.purpose}\tv${k.version}\t${k.status}\t${k.kek_id}\t${k.created_at.toISOString()}\t${k.in_use === null ? '' : `rows=${k.in_use}`}`);
    for (const j of s.jobs) print(`job ${j.tenant}/${j.jobId}\t${j.table}\t${j.status}\trewritten=${j.rewritten}\tattempts=${j.attempts}${j.lastError ? `\terror=${j.lastError}` : ''}`);
    return 0;
  }
  const dek = await dekSubcommand(sub, args, config, logger, print);
  if (dek !== undefined) return dek;
  print(sub === 'rotate' ? `haven keys rotate needs --kek or --dek\n\n${KEYS_HELP}` : KEYS_HELP);
  return 64;
}
