import { isIP } from 'node:net';
import { z } from 'zod';
import { oidcProviders } from './oidc-providers.js';

/**
 * The one configuration reference. Every setting comes from the environment
 * (HAVEN_*, DATABASE_URL); docs/configuration.md mirrors this file.
 */
const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

/** An address or CIDR range, or a proxy-addr keyword (`loopback`, `linklocal`, `uniquelocal`). */
function isProxyRange(entry: string): boolean {
  if (entry === 'loopback' || entry === 'linklocal' || entry === 'uniquelocal') return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** Comma-separated proxies whose X-Forwarded-For Haven believes; empty: the header is ignored. */
const trustedProxies = z
  .string()
  .default('')
  .transform((v) => v.split(',').map((e) => e.trim()).filter((e) => e !== ''))
  .refine((list) => list.every(isProxyRange), 'must be a comma-separated list of IP addresses, CIDR ranges, `loopback`, `linklocal` or `uniquelocal`');

const kms = z.object({
  /** Where the key-encryption key lives: a local key file (development only), a PKCS#11 HSM or a cloud KMS. */
  provider: z.enum(['local', 'pkcs11', 'aws-kms', 'gcp-kms', 'azure-keyvault', 'vault-transit']).default('local'),
  /** Cloud KMS calls: timeout per attempt and retries for throttling/5xx/network errors. */
  timeoutMs: positiveInt.max(60000).default(5000),
  retries: z.coerce.number().int().min(0).max(10).default(3),
  /** Encryption of resource bodies at rest; 'off' only for benchmarks in HAVEN_ENV=test. */
  encryption: z.enum(['on', 'off']).default('on'),
  /** How long an unwrapped data-encryption key stays in memory. */
  dekCacheSeconds: positiveInt.max(86400).default(300),
  /** How stale a node's view of data keys may get (a DEK rotation or a shred elsewhere). */
  dekRefreshSeconds: positiveInt.max(300).default(5),
  /** Search parameters stored only as HMAC blind indexes: `default`, `Type.code` or `code` entries, comma-separated; `none` (docs/security/encryption.md). */
  blindIndexParams: z
    .string()
    .regex(/^\s*(none|(default|([A-Z][A-Za-z]+\.)?[a-z_][a-z0-9_-]*)(\s*,\s*(default|([A-Z][A-Za-z]+\.)?[a-z_][a-z0-9_-]*))*)\s*$/, 'must be `none` or a comma-separated list of `default`, `Type.code` or `code`')
    .default('default'),
  pkcs11: z.object({
    library: z.string().min(1).optional(),
    slot: z.coerce.number().int().min(0).optional(),
    tokenLabel: z.string().min(1).optional(),
    pin: z.string().min(1).optional(),
    kekLabel: z.string().min(1).default('haven-kek'),
  }),
  // Credentials come from each vendor's standard variables (AWS_*, GOOGLE_APPLICATION_CREDENTIALS, AZURE_*, VAULT_*), read by src/crypto/cloud-kms-config.ts.
  aws: z.object({ keyId: z.string().min(1).optional(), keyIdNext: z.string().min(1).optional(), region: z.string().min(1).optional(), endpoint: z.url().optional() }).prefault({}),
  gcp: z.object({ key: z.string().min(1).optional(), credentials: z.string().min(1).optional(), endpoint: z.url().optional() }).prefault({}),
  azure: z.object({ vaultUrl: z.url().optional(), keyName: z.string().min(1).optional(), authority: z.url().default('https://login.microsoftonline.com') }).prefault({}),
  vault: z.object({ key: z.string().min(1).optional(), mount: z.string().regex(/^[\w.-]+(\/[\w.-]+)*$/).default('transit') }).prefault({}),
});

export const configSchema = z.object({
  env: z.enum(['development', 'production', 'test']).default('development'),
  http: z.object({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(8080),
    /** Public base URL (scheme://host:port) used in links, Location headers and token audiences. */
    baseUrl: z.url().optional(),
    maxBodyBytes: positiveInt.default(16 * 1024 * 1024),
    /** PEM files: when both are set Haven serves HTTPS (TLS 1.2+, strong ciphers, HSTS). */
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    /** Reverse proxies in front of Haven: only from these is X-Forwarded-For honoured (client address for backoff and audit). */
    trustedProxies,
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
    /** `shared_buffers` of the embedded server in MB; absent: an eighth of the memory, 128 MB to 2 GB. */
    embeddedSharedBuffersMb: z.coerce.number().int().min(16).max(1048576).optional(),
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
    /** Access-token lifetime per identity plane; absent: accessTokenTtlSeconds. */
    machineAccessTokenTtlSeconds: positiveInt.max(3600).optional(),
    workforceAccessTokenTtlSeconds: positiveInt.max(3600).optional(),
    patientAccessTokenTtlSeconds: positiveInt.max(3600).optional(),
    /** Authorization-server browser sessions: idle time-out (auto-logoff) and absolute lifetime. */
    sessionIdleMinutes: positiveInt.max(1440).default(15),
    sessionMaxHours: positiveInt.max(168).default(8),
    /** Failed logins before an account locks; the lock then doubles with each further failure. */
    loginMaxFailures: positiveInt.max(100).default(5),
    loginLockoutSeconds: positiveInt.max(86400).default(60),
    /** Failed sign-ins from one source address (within 15 min, any accounts) before it is throttled. */
    loginIpMaxFailures: positiveInt.max(100000).default(20),
    /**
     * Lifetime of an offline_access grant (its refresh tokens). ONC (g)(10) asks for no less than three
     * months; 92 days is the longest three calendar months (July 1 → October 1), so the default holds
     * from any start date (90 days falls short, e.g. from May 1).
     */
    offlineAccessDays: positiveInt.max(3650).default(92),
    /** Longest break-glass grant (and its default), and longest just-in-time elevation, in minutes. */
    breakGlassMinutes: positiveInt.max(480).default(60),
    maxElevationMinutes: positiveInt.max(1440).default(480),
    /** Sign-in through an external OpenID provider (federation); off unless an issuer is set. */
    oidc: z.object({
      issuer: z.url().optional(),
      clientId: z.string().min(1).optional(),
      clientSecret: z.string().min(1).optional(),
      /** id_token claim with the provider's groups or roles. */
      rolesClaim: z.string().min(1).default('groups'),
      /** `group=role,…`: provider group → Haven role. */
      roleMap: z.string().default(''),
      name: z.string().min(1).max(64).default('your organisation'),
      /** Several providers as a JSON array (oidc-providers.ts); the variables above, when set, are one more (id `default`). */
      providers: oidcProviders,
    }),
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
    /** S3-compatible witness with Object Lock (docs/security/audit.md): on when URL and bucket are set. */
    witnessS3Url: z.string().url().optional(),
    witnessS3Bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name').optional(),
    witnessS3Region: z.string().min(1).default('us-east-1'),
    witnessS3AccessKeyId: z.string().min(1).optional(),
    witnessS3SecretAccessKey: z.string().min(1).optional(),
    /** COMPLIANCE-mode retention of each published head (days; ≥ the audit retention of 6 years by default). */
    witnessS3RetentionDays: positiveInt.default(2192),
    witnessS3Prefix: z.string().regex(/^[A-Za-z0-9._/-]*$/, 'letters, digits and . _ / -').default('haven-audit'),
    /** Least time between two uploads (s); each upload carries every head since the last one. */
    witnessS3IntervalSeconds: positiveInt.default(60),
    /** Entries older than this are archived to encrypted blob segments (`haven audit archive`; HIPAA: 6 years). */
    retentionYears: positiveInt.default(6),
    /**
     * Connection `haven audit prune` calls audit_prune() through: a role with EXECUTE on that
     * function and nothing else (migration 038). Unset: DATABASE_URL (the embedded role owns all).
     */
    pruneDatabaseUrl: z.string().min(1).optional(),
  }),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }),
  mllp: z.object({
    /** HL7 v2 MLLP listener (role `mllp`); 0 = a free port. */
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(2575),
    /** A frame over this size is answered AR and the connection closed. */
    maxMessageBytes: positiveInt.default(4 * 1024 * 1024),
    /** A connection with no traffic for this long is closed. */
    idleTimeoutMs: positiveInt.default(600000),
    /** PEM files for MLLP over TLS; with a CA, clients must present a certificate it signed. */
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    tlsCa: z.string().min(1).optional(),
  }),
  bulk: z.object({
    /** Hours an export's files are kept before the cleanup sweep deletes them (and audits the deletion). */
    fileTtlHours: positiveInt.max(24 * 30).default(24),
    /** Most resources in one NDJSON file (one queue task); larger types are split over several files. */
    maxFileResources: positiveInt.default(50000),
    /** How long a worker's lease on a task lasts without renewal; a dead node's task is retaken after it. */
    leaseSeconds: positiveInt.max(3600).default(30),
    /** Export tasks one node runs at once (0 = this node does not run export work). */
    workers: z.coerce.number().int().min(0).max(64).default(2),
    /** Origins (scheme://host[:port]) $import may pull NDJSON from; empty: only files of this Haven's own exports. */
    importAllowedOrigins: z
      .string()
      .default('')
      .transform((v) => v.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter((o) => o !== '')),
    /** Largest NDJSON input $import pulls from another server, in bytes; the rest of a larger file is refused. */
    importMaxBytes: positiveInt.default(4 * 2 ** 30),
  }),
  hl7v2: z
    .object({
      /** Override directory for the HL7 v2 → FHIR mapping templates (docs/hl7v2.md, Templates); built-ins otherwise. */
      templatesDir: z.string().min(1).optional(),
      /** Original-mode messages written in one shared transaction (group commit; docs/hl7v2.md). */
      groupMessages: positiveInt.max(256).default(32),
      /** Group transactions written at once: one converts and validates while another waits for the database. */
      groupsInFlight: positiveInt.max(16).default(2),
    })
    .prefault({}),
  /** Directory of the local blob store (export files); default <dataDir>/blobs. */
  blobDir: z.string().min(1).optional(),
  /** `haven backup` / `haven restore` with an S3-compatible bucket (docs/security/encryption.md, Backups). */
  backup: z
    .object({
      /** Endpoint; default https://s3.<region>.amazonaws.com. */
      s3Url: z.string().url().optional(),
      /** With it, `haven backup` without --to writes to s3://<bucket>/<prefix>/<UTC time>. */
      s3Bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name').optional(),
      s3Prefix: z.string().regex(/^(?!(.*\/)?\.{1,2}(\/|$))[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'letters, digits and . _ - separated by /, no . or .. segment').default('haven-backup'),
      s3Region: z.string().min(1).default('us-east-1'),
      /** Else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN). */
      s3AccessKeyId: z.string().min(1).optional(),
      s3SecretAccessKey: z.string().min(1).optional(),
      /** Largest object; bigger backup files are stored in parts (S3 allows 5 GiB per PUT). */
      s3PartMb: positiveInt.max(5120).default(64),
    })
    .prefault({}),
  shutdownGraceMs: positiveInt.default(10000),
  validateOnWrite: bool.default(true),
  kms,
}).superRefine((c, ctx) => {
  // Rules across settings; each issue names the variable to change.
  if (c.kms.encryption === 'off' && c.env !== 'test') {
    ctx.addIssue({ code: 'custom', path: ['kms', 'encryption'], message: "'off' is accepted only when HAVEN_ENV=test" });
  }
  if (c.kms.provider === 'local' && c.env === 'production') {
    ctx.addIssue({ code: 'custom', path: ['kms', 'provider'], message: "'local' (a key file on disk) is refused when HAVEN_ENV=production; use an HSM or cloud KMS (pkcs11, aws-kms, gcp-kms, azure-keyvault, vault-transit)" });
  }
  if ((c.http.tlsCert === undefined) !== (c.http.tlsKey === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['http', c.http.tlsCert ? 'tlsKey' : 'tlsCert'], message: 'HAVEN_TLS_CERT and HAVEN_TLS_KEY go together' });
  }
  if ((c.mllp.tlsCert === undefined) !== (c.mllp.tlsKey === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['mllp', c.mllp.tlsCert ? 'tlsKey' : 'tlsCert'], message: 'HAVEN_MLLP_TLS_CERT and HAVEN_MLLP_TLS_KEY go together' });
  }
  if (c.mllp.tlsCa !== undefined && c.mllp.tlsCert === undefined) {
    ctx.addIssue({ code: 'custom', path: ['mllp', 'tlsCa'], message: 'client certificates need TLS: set HAVEN_MLLP_TLS_CERT and HAVEN_MLLP_TLS_KEY' });
  }
  const oidc = c.auth.oidc;
  if (oidc.issuer) {
    for (const key of ['clientId', 'clientSecret', 'roleMap'] as const) {
      if (!oidc[key]) ctx.addIssue({ code: 'custom', path: ['auth', 'oidc', key], message: 'required when HAVEN_OIDC_ISSUER is set' });
    }
    if (oidc.issuer.startsWith('http:') && c.env === 'production') {
      ctx.addIssue({ code: 'custom', path: ['auth', 'oidc', 'issuer'], message: 'must be https when HAVEN_ENV=production' });
    }
  }
  for (const [i, p] of (oidc.providers ?? []).entries()) {
    if (p.issuer.startsWith('http:') && c.env === 'production') {
      ctx.addIssue({ code: 'custom', path: ['auth', 'oidc', 'providers'], message: `provider ${i + 1} issuer: must be https when HAVEN_ENV=production` });
    }
    if (oidc.issuer && (p.id === 'default' || p.issuer === oidc.issuer)) {
      ctx.addIssue({ code: 'custom', path: ['auth', 'oidc', 'providers'], message: `provider ${i + 1}: id "default" and issuer ${oidc.issuer} belong to the provider of HAVEN_OIDC_ISSUER` });
    }
  }
  const a = c.audit;
  if (a.witnessS3Url !== undefined || a.witnessS3Bucket !== undefined) {
    for (const key of ['witnessS3Url', 'witnessS3Bucket', 'witnessS3AccessKeyId', 'witnessS3SecretAccessKey'] as const) {
      if (a[key] === undefined) ctx.addIssue({ code: 'custom', path: ['audit', key], message: 'required for the S3 audit witness (HAVEN_AUDIT_WITNESS_S3_URL and _BUCKET set)' });
    }
  }
  if (c.kms.provider === 'pkcs11') {
    const p = c.kms.pkcs11;
    if (!p.library) ctx.addIssue({ code: 'custom', path: ['kms', 'pkcs11', 'library'], message: 'required when HAVEN_KMS=pkcs11' });
    if (!p.pin) ctx.addIssue({ code: 'custom', path: ['kms', 'pkcs11', 'pin'], message: 'required when HAVEN_KMS=pkcs11' });
    if (p.slot === undefined && p.tokenLabel === undefined) {
      ctx.addIssue({ code: 'custom', path: ['kms', 'pkcs11', 'tokenLabel'], message: 'HAVEN_PKCS11_TOKEN_LABEL or HAVEN_PKCS11_SLOT is required when HAVEN_KMS=pkcs11' });
    }
  }
  const cloudRequired: Record<string, string[][]> = { 'aws-kms': [['aws', 'keyId']], 'gcp-kms': [['gcp', 'key']], 'azure-keyvault': [['azure', 'vaultUrl'], ['azure', 'keyName']], 'vault-transit': [['vault', 'key']] };
  for (const path of cloudRequired[c.kms.provider] ?? []) {
    const section = (c.kms as unknown as Record<string, Record<string, unknown>>)[path[0]!]!;
    if (section[path[1]!] === undefined) ctx.addIssue({ code: 'custom', path: ['kms', ...path], message: `required when HAVEN_KMS=${c.kms.provider}` });
  }
});

export type HavenConfig = z.infer<typeof configSchema>;
