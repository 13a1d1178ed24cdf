import { resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { asTenantId, DEFAULT_TENANT, type Logger } from '../kernel/index.js';
import { ensureBootstrapClient } from '../auth/index.js';
import { createDb, createEmbeddedPostgres, migrate, startMaintenance, type Db, type EmbeddedPostgres } from '../store/index.js';
import { buildApp } from './build.js';

export interface RunningServer {
  url: string;
  embedded?: EmbeddedPostgres;
  db: Db;
  /** Drains in-flight requests, closes the pool, stops the embedded database. */
  stop(): Promise<void>;
}

export function publicBaseUrl(config: HavenConfig, port: number): string {
  if (config.http.baseUrl) return config.http.baseUrl.replace(/\/$/, '');
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Starts Haven: database (embedded unless DATABASE_URL), migrations, bootstrap
 * admin client, HTTP listener. Security is always on: there is no switch.
 */
export async function startServer(config: HavenConfig, logger: Logger): Promise<RunningServer> {
  const dataDir = resolve(config.dataDir);
  let embedded: EmbeddedPostgres | undefined;
  let connectionString = config.database.url;
  if (!connectionString) {
    embedded = createEmbeddedPostgres({ dataDir, osUser: config.database.osUser, logger: logger.child({ component: 'embedded-postgres' }) });
    await embedded.start();
    connectionString = embedded.connectionString;
  }
  const db = createDb({ connectionString, maxConnections: config.database.poolSize, statementTimeoutMs: config.database.statementTimeoutMs });
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'database migrations applied');
    const tenant = asTenantId(DEFAULT_TENANT);
    const port = config.http.port;
    const baseUrl = publicBaseUrl(config, port);
    const boot = await ensureBootstrapClient({ db, tenant, dir: dataDir, tokenUrl: `${baseUrl}/auth/token` });
    if (boot.action !== 'unchanged') logger.info({ file: boot.file, clientId: boot.clientId }, `bootstrap admin client ${boot.action}`);
    const { http, encryption, audit } = buildApp({
      config,
      db,
      logger,
      baseUrl,
      tenant,
      ready: async () => (embedded ? embedded.isRunning() : true) && (await db.ping()),
    });
    await encryption.start(); // KMS reachable and configured before any request is taken
    await http.listen({ host: config.http.host, port });
    const maintenance = startMaintenance(db, logger);
    audit.sequencer.start(); // leader election among nodes happens inside (advisory lock)
    return {
      url: baseUrl,
      db,
      ...(embedded ? { embedded } : {}),
      async stop() {
        maintenance.stop();
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
