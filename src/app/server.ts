import { resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { asTenantId, DEFAULT_TENANT, type Logger, type RequestContext, type TenantId } from '../kernel/index.js';
import { channelContext } from '../hl7v2/mllp/index.js';
import { ensureBootstrapClient } from '../auth/index.js';
import { createDb, createEmbeddedPostgres, databaseCollation, isBytewise, migrate, startMaintenance, type Db, type EmbeddedPostgres } from '../store/index.js';
import { buildApp } from './build.js';
import { buildMllpListener, type Hl7Parts } from './hl7v2.js';
import { tuneRuntime } from './runtime-tuning.js';

/** Roles of `haven serve --roles` (DESIGN §1): `api` = HTTP, `mllp` = the HL7 v2 listener. */
export type ServerRole = 'api' | 'mllp';
export const SERVER_ROLES: readonly ServerRole[] = ['api', 'mllp'];

export interface StartOptions {
  roles?: readonly ServerRole[];
  /** HL7 v2 parser/converter overrides (tests). */
  hl7?: Hl7Parts;
}

export interface RunningServer {
  url: string;
  embedded?: EmbeddedPostgres;
  db: Db;
  /** The MLLP listener's address (role `mllp`). */
  mllp?: { host: string; port: number };
  /** Drains in-flight requests, closes the pool, stops the embedded database. */
  stop(): Promise<void>;
}

export function publicBaseUrl(config: HavenConfig, port: number): string {
  if (config.http.baseUrl) return config.http.baseUrl.replace(/\/$/, '');
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const scheme = config.http.tlsCert ? 'https' : 'http';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Starts Haven: database (embedded unless DATABASE_URL), migrations, bootstrap
 * admin client, HTTP listener. Security is always on: there is no switch.
 */
export async function startServer(config: HavenConfig, logger: Logger, options: StartOptions = {}): Promise<RunningServer> {
  tuneRuntime();
  const roles = new Set(options.roles ?? SERVER_ROLES);
  const dataDir = resolve(config.dataDir);
  let embedded: EmbeddedPostgres | undefined;
  let connectionString = config.database.url;
  if (!connectionString) {
    embedded = createEmbeddedPostgres({
      dataDir,
      osUser: config.database.osUser,
      sharedBuffersMb: config.database.embeddedSharedBuffersMb,
      logger: logger.child({ component: 'embedded-postgres' }),
    });
    await embedded.start();
    connectionString = embedded.connectionString;
  }
  const db = createDb({ connectionString, maxConnections: config.database.poolSize, statementTimeoutMs: config.database.statementTimeoutMs });
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'database migrations applied');
    const collation = await databaseCollation(db);
    if (!isBytewise(collation)) {
      logger.warn(
        { collationProvider: collation.provider, collation: collation.locale },
        'the database does not use the C collation: every index insert and lookup on text keys costs more (see docs/configuration.md, "External PostgreSQL")',
      );
    }
    const tenant = asTenantId(DEFAULT_TENANT);
    const port = config.http.port;
    const baseUrl = publicBaseUrl(config, port);
    const boot = await ensureBootstrapClient({ db, tenant, dir: dataDir, tokenUrl: `${baseUrl}/auth/token` });
    if (boot.action !== 'unchanged') logger.info({ file: boot.file, clientId: boot.clientId }, `bootstrap admin client ${boot.action}`);
    const { http, encryption, audit, hl7, hl7Converter } = buildApp({
      config,
      db,
      logger,
      baseUrl,
      tenant,
      ready: async () => (embedded ? embedded.isRunning() : true) && (await db.ping()),
      ...(options.hl7 ? { hl7: options.hl7 } : {}),
    });
    await encryption.start(); // KMS reachable and configured before any request is taken
    // MLLP first: a sender's ACK never waits on the HTTP side; then messages a crash left `received` are finished.
    if (roles.has('mllp') && !options.hl7?.converter) hl7Converter.warm(); // a bad template stops the start, not the first message
    const mllp = roles.has('mllp') ? buildMllpListener(config, hl7, tenant, logger) : undefined;
    const mllpAddress = mllp ? await mllp.listen() : undefined;
    if (mllpAddress) logger.info({ host: mllpAddress.host, port: mllpAddress.port, tls: Boolean(config.mllp.tlsCert) }, 'MLLP listener ready');
    if (mllp) void recoverHl7(hl7.ingester, tenant, logger);
    if (roles.has('api')) await http.listen({ host: config.http.host, port });
    const maintenance = startMaintenance(db, logger);
    audit.sequencer.start(); // leader election among nodes happens inside (advisory lock)
    return {
      url: baseUrl,
      db,
      ...(embedded ? { embedded } : {}),
      ...(mllpAddress ? { mllp: mllpAddress } : {}),
      async stop() {
        maintenance.stop();
        await mllp?.close(config.shutdownGraceMs); // each connection finishes its current message first
        await http.close(); // stops accepting, waits for in-flight requests
        logger.info({}, 'HTTP drained');
        await audit.sequencer.drain().catch(() => 0); // sequence and sign what the last requests recorded
        await audit.sequencer.stop();
        await db.close();
        if (embedded) await embedded.stop();
        logger.info({}, 'database stopped');
      },
    };
  } catch (err) {
    await db.close().catch(() => undefined);
    if (embedded) await embedded.stop();
    throw err;
  }
}

/** Messages stored but not processed when the last process died are processed now, in arrival order. */
async function recoverHl7(ingester: { recover(ctx: RequestContext): Promise<number> }, tenant: TenantId, logger: Logger): Promise<void> {
  const ctx = channelContext(tenant, { remoteAddress: 'recovery' });
  try {
    const n = await ingester.recover(ctx);
    if (n > 0) logger.info({ messages: n }, 'HL7 v2 messages left unprocessed by the last run were processed');
  } catch (err) {
    logger.error({ err: err instanceof Error ? err.name : typeof err }, 'HL7 v2 recovery failed; it runs again at the next start');
  }
}
