import { resolve } from 'node:path';
import type { HavenConfig } from '../config/index.js';
import { asTenantId, DEFAULT_TENANT, type Logger } from '../kernel/index.js';
import { ensureBootstrapClient } from '../auth/index.js';
import { createDb, createEmbeddedPostgres, migrate, type Db, type EmbeddedPostgres } from '../store/index.js';
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
  const db = createDb({ connectionString, maxConnections: config.database.poolSize });
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'database migrations applied');
    const tenant = asTenantId(DEFAULT_TENANT);
    const port = config.http.port;
    const baseUrl = publicBaseUrl(config, port);
    const boot = await ensureBootstrapClient({ db, tenant, dir: dataDir, tokenUrl: `${baseUrl}/auth/token` });
    if (boot.action !== 'unchanged') logger.info({ file: boot.file, clientId: boot.clientId }, `bootstrap admin client ${boot.action}`);
    const { http } = buildApp({
      config,
      db,
      logger,
      baseUrl,
      tenant,
      ready: async () => (embedded ? embedded.isRunning() : true) && (await db.ping()),
    });
    await http.listen({ host: config.http.host, port });
    return {
      url: baseUrl,
      db,
      ...(embedded ? { embedded } : {}),
      async stop() {
        await http.close(); // stops accepting, waits for in-flight requests
        logger.info({}, 'HTTP drained');
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
