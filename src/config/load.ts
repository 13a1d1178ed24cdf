
import { HavenError } from '../kernel/index.js';
import { configSchema, type HavenConfig } from './schema.js';

/** Environment variable → configuration path. Unknown HAVEN_* variables are reported too. */
export const envMap: Record<string, string[]> = {
  HAVEN_ENV: ['env'],
  HAVEN_HOST: ['http', 'host'],
  HAVEN_PORT: ['http', 'port'],
  HAVEN_BASE_URL: ['http', 'baseUrl'],
  HAVEN_TLS_CERT: ['http', 'tlsCert'],
  HAVEN_TLS_KEY: ['http', 'tlsKey'],
  HAVEN_TRUSTED_PROXIES: ['http', 'trustedProxies'],
  HAVEN_MAX_BODY_BYTES: ['http', 'maxBodyBytes'],
  HAVEN_DATA_DIR: ['dataDir'],
  DATABASE_URL: ['database', 'url'],
  HAVEN_DB_POOL_SIZE: ['database', 'poolSize'],
  HAVEN_DB_STATEMENT_TIMEOUT_MS: ['database', 'statementTimeoutMs'],
  HAVEN_EMBEDDED_PG_PORT: ['database', 'embeddedPort'],
  HAVEN_EMBEDDED_PG_SHARED_BUFFERS_MB: ['database', 'embeddedSharedBuffersMb'],
  HAVEN_PG_OS_USER: ['database', 'osUser'],
  HAVEN_MAX_BUNDLE_ENTRIES: ['fhir', 'maxBundleEntries'],
  HAVEN_DEFAULT_PAGE_SIZE: ['fhir', 'defaultPageSize'],
  HAVEN_MAX_PAGE_SIZE: ['fhir', 'maxPageSize'],
  HAVEN_ACCESS_TOKEN_TTL: ['auth', 'accessTokenTtlSeconds'],
  HAVEN_ACCESS_TOKEN_TTL_MACHINE: ['auth', 'machineAccessTokenTtlSeconds'],
  HAVEN_ACCESS_TOKEN_TTL_WORKFORCE: ['auth', 'workforceAccessTokenTtlSeconds'],
  HAVEN_ACCESS_TOKEN_TTL_PATIENT: ['auth', 'patientAccessTokenTtlSeconds'],
  HAVEN_SESSION_IDLE_MINUTES: ['auth', 'sessionIdleMinutes'],
  HAVEN_SESSION_MAX_HOURS: ['auth', 'sessionMaxHours'],
  HAVEN_LOGIN_MAX_FAILURES: ['auth', 'loginMaxFailures'],
  HAVEN_LOGIN_LOCKOUT_SECONDS: ['auth', 'loginLockoutSeconds'],
  HAVEN_LOGIN_IP_MAX_FAILURES: ['auth', 'loginIpMaxFailures'],
  HAVEN_OFFLINE_ACCESS_DAYS: ['auth', 'offlineAccessDays'],
  HAVEN_BREAK_GLASS_MINUTES: ['auth', 'breakGlassMinutes'],
  HAVEN_MAX_ELEVATION_MINUTES: ['auth', 'maxElevationMinutes'],
  HAVEN_OIDC_ISSUER: ['auth', 'oidc', 'issuer'],
  HAVEN_OIDC_CLIENT_ID: ['auth', 'oidc', 'clientId'],
  HAVEN_OIDC_CLIENT_SECRET: ['auth', 'oidc', 'clientSecret'],
  HAVEN_OIDC_ROLES_CLAIM: ['auth', 'oidc', 'rolesClaim'],
  HAVEN_OIDC_ROLE_MAP: ['auth', 'oidc', 'roleMap'],
  HAVEN_OIDC_NAME: ['auth', 'oidc', 'name'],
  HAVEN_OIDC_PROVIDERS: ['auth', 'oidc', 'providers'],
  HAVEN_LOG_LEVEL: ['log', 'level'],
  HAVEN_AUDIT: ['audit', 'enabled'],
  HAVEN_AUDIT_HEAD_INTERVAL_MS: ['audit', 'headIntervalMs'],
  HAVEN_AUDIT_TIMEOUT_MS: ['audit', 'timeoutMs'],
  HAVEN_AUDIT_WITNESS_S3_URL: ['audit', 'witnessS3Url'],
  HAVEN_AUDIT_WITNESS_S3_BUCKET: ['audit', 'witnessS3Bucket'],
  HAVEN_AUDIT_WITNESS_S3_REGION: ['audit', 'witnessS3Region'],
  HAVEN_AUDIT_WITNESS_S3_ACCESS_KEY_ID: ['audit', 'witnessS3AccessKeyId'],
  HAVEN_AUDIT_WITNESS_S3_SECRET_ACCESS_KEY: ['audit', 'witnessS3SecretAccessKey'],
  HAVEN_AUDIT_WITNESS_S3_RETENTION_DAYS: ['audit', 'witnessS3RetentionDays'],
  HAVEN_AUDIT_WITNESS_S3_PREFIX: ['audit', 'witnessS3Prefix'],
  HAVEN_AUDIT_WITNESS_S3_INTERVAL_SECONDS: ['audit', 'witnessS3IntervalSeconds'],
  HAVEN_AUDIT_RETENTION_YEARS: ['audit', 'retentionYears'],
  HAVEN_AUDIT_PRUNE_DATABASE_URL: ['audit', 'pruneDatabaseUrl'],
  HAVEN_SHUTDOWN_GRACE_MS: ['shutdownGraceMs'],
  HAVEN_MLLP_HOST: ['mllp', 'host'],
  HAVEN_MLLP_PORT: ['mllp', 'port'],
  HAVEN_MLLP_MAX_MESSAGE_BYTES: ['mllp', 'maxMessageBytes'],
  HAVEN_MLLP_IDLE_TIMEOUT_MS: ['mllp', 'idleTimeoutMs'],
  HAVEN_MLLP_TLS_CERT: ['mllp', 'tlsCert'],
  HAVEN_MLLP_TLS_KEY: ['mllp', 'tlsKey'],
  HAVEN_MLLP_TLS_CA: ['mllp', 'tlsCa'],
  HAVEN_HL7_TEMPLATES_DIR: ['hl7v2', 'templatesDir'],
  HAVEN_HL7_GROUP_MESSAGES: ['hl7v2', 'groupMessages'],
  HAVEN_HL7_GROUPS_IN_FLIGHT: ['hl7v2', 'groupsInFlight'],
  HAVEN_BULK_FILE_TTL_HOURS: ['bulk', 'fileTtlHours'],
  HAVEN_BULK_MAX_FILE_RESOURCES: ['bulk', 'maxFileResources'],
  HAVEN_BULK_LEASE_SECONDS: ['bulk', 'leaseSeconds'],
  HAVEN_BULK_WORKERS: ['bulk', 'workers'],
  HAVEN_IMPORT_ALLOWED_ORIGINS: ['bulk', 'importAllowedOrigins'],
  HAVEN_IMPORT_MAX_BYTES: ['bulk', 'importMaxBytes'],
  HAVEN_BLOB_DIR: ['blobDir'],
  HAVEN_BACKUP_S3_URL: ['backup', 's3Url'],
  HAVEN_BACKUP_S3_BUCKET: ['backup', 's3Bucket'],
  HAVEN_BACKUP_S3_PREFIX: ['backup', 's3Prefix'],
  HAVEN_BACKUP_S3_REGION: ['backup', 's3Region'],
  HAVEN_BACKUP_S3_ACCESS_KEY_ID: ['backup', 's3AccessKeyId'],
  HAVEN_BACKUP_S3_SECRET_ACCESS_KEY: ['backup', 's3SecretAccessKey'],
  HAVEN_BACKUP_S3_PART_MB: ['backup', 's3PartMb'],
  HAVEN_VALIDATE_ON_WRITE: ['validateOnWrite'],
  HAVEN_KMS: ['kms', 'provider'],
  HAVEN_ENCRYPTION: ['kms', 'encryption'],
  HAVEN_DEK_CACHE_SECONDS: ['kms', 'dekCacheSeconds'],
  HAVEN_DEK_REFRESH_SECONDS: ['kms', 'dekRefreshSeconds'],
  HAVEN_BLIND_INDEX_PARAMS: ['kms', 'blindIndexParams'],
  HAVEN_PKCS11_LIBRARY: ['kms', 'pkcs11', 'library'],
  HAVEN_PKCS11_SLOT: ['kms', 'pkcs11', 'slot'],
  HAVEN_PKCS11_TOKEN_LABEL: ['kms', 'pkcs11', 'tokenLabel'],
  HAVEN_PKCS11_PIN: ['kms', 'pkcs11', 'pin'],
  HAVEN_PKCS11_KEK_LABEL: ['kms', 'pkcs11', 'kekLabel'],
  HAVEN_KMS_TIMEOUT_MS: ['kms', 'timeoutMs'],
  HAVEN_KMS_RETRIES: ['kms', 'retries'],
  HAVEN_KMS_AWS_KEY_ID: ['kms', 'aws', 'keyId'],
  HAVEN_KMS_AWS_KEY_ID_NEXT: ['kms', 'aws', 'keyIdNext'],
  HAVEN_KMS_AWS_REGION: ['kms', 'aws', 'region'],
  HAVEN_KMS_AWS_ENDPOINT: ['kms', 'aws', 'endpoint'],
  HAVEN_KMS_GCP_KEY: ['kms', 'gcp', 'key'],
  HAVEN_KMS_GCP_CREDENTIALS: ['kms', 'gcp', 'credentials'],
  HAVEN_KMS_GCP_ENDPOINT: ['kms', 'gcp', 'endpoint'],
  HAVEN_KMS_AZURE_VAULT_URL: ['kms', 'azure', 'vaultUrl'],
  HAVEN_KMS_AZURE_KEY_NAME: ['kms', 'azure', 'keyName'],
  HAVEN_KMS_AZURE_AUTHORITY: ['kms', 'azure', 'authority'],
  HAVEN_KMS_VAULT_KEY: ['kms', 'vault', 'key'],
  HAVEN_KMS_VAULT_MOUNT: ['kms', 'vault', 'mount'],
};

/** Variables of the test and CI harness, not settings: ignored rather than refused. */
const harnessVariables = new Set(['HAVEN_REQUIRE_SOFTHSM', 'HAVEN_REQUIRE_CHROMIUM', 'HAVEN_REQUIRE_PG_DUMP', 'HAVEN_TEST_CONCURRENCY', 'HAVEN_FUZZ_COUNT', 'HAVEN_FUZZ_SEED']);

function setPath(target: Record<string, unknown>, path: string[], value: string): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

const pathToEnv = new Map(Object.entries(envMap).map(([env, path]) => [path.join('.'), env]));

/**
 * Builds the configuration from an environment. Fails fast with every problem
 * listed, each naming the variable to fix.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): HavenConfig {
  const raw: Record<string, unknown> = { http: {}, database: {}, fhir: {}, auth: { oidc: {} }, audit: {}, bulk: {}, log: {}, mllp: {}, kms: { pkcs11: {} } };
  const problems: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    const path = envMap[name];
    if (path) setPath(raw, path, value);
    else if (name.startsWith('HAVEN_') && !harnessVariables.has(name)) problems.push(`${name}: unknown setting (see docs/configuration.md)`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.join('.');
      problems.push(`${pathToEnv.get(key) ?? key}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new HavenError('incorrect', 'CONFIG_INVALID', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
  return parsed.data;
}


