import { z } from 'zod';

/**
 * The one configuration reference. Every setting comes from the environment
 * (HAVEN_*, DATABASE_URL); docs/configuration.md mirrors this file.
 */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const kms = z.object({
  /** Where the key-encryption key lives: a local key file (development only) or a PKCS#11 HSM. */
  provider: z.enum(['local', 'pkcs11']).default('local'),
  /** Encryption of resource bodies at rest; 'off' only for benchmarks in HAVEN_ENV=test. */
  encryption: z.enum(['on', 'off']).default('on'),
  /** How long an unwrapped data-encryption key stays in memory. */
  dekCacheSeconds: positiveInt.max(86400).default(300),
  pkcs11: z.object({
    library: z.string().min(1).optional(),
    slot: z.coerce.number().int().min(0).optional(),
    tokenLabel: z.string().min(1).optional(),
    pin: z.string().min(1).optional(),
    kekLabel: z.string().min(1).default('haven-kek'),
  }),
});

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
    /** Longest a single statement may run before PostgreSQL cancels it (ms). */
    statementTimeoutMs: positiveInt.default(30000),
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
  audit: z.object({
    /** `off` is accepted only with HAVEN_ENV=test, to benchmark what auditing costs. */
    enabled: z
      .enum(['on', 'off'])
      .default('on')
      .transform((v) => v === 'on'),
    /** Cadence of sequencing rounds and signed tree heads (ms). */
    headIntervalMs: positiveInt.default(1000),
    /** Longest an audit insert may take before the PHI request fails with 503 (ms). */
    timeoutMs: positiveInt.default(5000),
  }),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }),
  shutdownGraceMs: positiveInt.default(10000),
  validateOnWrite: bool.default(true),
  kms,
}).superRefine((c, ctx) => {
  // Rules across settings; each issue names the variable to change.
  if (c.kms.encryption === 'off' && c.env !== 'test') {
    ctx.addIssue({ code: 'custom', path: ['kms', 'encryption'], message: "'off' is accepted only when HAVEN_ENV=test" });
  }
  if (c.kms.provider === 'local' && c.env === 'production') {
    ctx.addIssue({ code: 'custom', path: ['kms', 'provider'], message: "'local' (a key file on disk) is refused when HAVEN_ENV=production; use an HSM (pkcs11)" });
  }
  if (c.kms.provider === 'pkcs11') {
    const p = c.kms.pkcs11;
    if (!p.library) ctx.addIssue({ code: 'custom', path: ['kms', 'pkcs11', 'library'], message: 'required when HAVEN_KMS=pkcs11' });
    if (!p.pin) ctx.addIssue({ code: 'custom', path: ['kms', 'pkcs11', 'pin'], message: 'required when HAVEN_KMS=pkcs11' });
    if (p.slot === undefined && p.tokenLabel === undefined) {
      ctx.addIssue({ code: 'custom', path: ['kms', 'pkcs11', 'tokenLabel'], message: 'HAVEN_PKCS11_TOKEN_LABEL or HAVEN_PKCS11_SLOT is required when HAVEN_KMS=pkcs11' });
    }
  }
});

export type HavenConfig = z.infer<typeof configSchema>;
