import { z } from 'zod';

/**
 * The one configuration reference. Every setting comes from the environment
 * (HAVEN_*, DATABASE_URL); docs/configuration.md mirrors this file.
 */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

export const configSchema = z.object({
  env: z.enum(['development', 'production', 'test']).default('development'),
  http: z.object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8080),
    /** Public base URL (scheme://host:port) used in links, Location headers and token audiences. */
    baseUrl: z.url().optional(),
    maxBodyBytes: positiveInt.default(16 * 1024 * 1024),
  }),
  dataDir: z.string().min(1).default('./haven-data'),
  database: z.object({
    /** External PostgreSQL; when absent, Haven runs its embedded PostgreSQL under dataDir. */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
    poolSize: positiveInt.default(20),
    /** Port of the embedded server (only used without DATABASE_URL). */
    embeddedPort: port.default(5433),
    /** OS account that runs the embedded PostgreSQL when Haven runs as root. */
    osUser: z.string().regex(/^[a-z_][a-z0-9_-]*$/, 'must be an OS user name').default('postgres'),
  }),
  fhir: z.object({
    maxBundleEntries: positiveInt.default(10000),
    defaultPageSize: positiveInt.default(20),
    maxPageSize: positiveInt.default(1000),
  }),
  auth: z.object({
    accessTokenTtlSeconds: positiveInt.max(3600).default(300),
  }),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }),
  shutdownGraceMs: positiveInt.default(10000),
  validateOnWrite: bool.default(true),
});

export type HavenConfig = z.infer<typeof configSchema>;
