
import { HavenError } from '../kernel/index.js';
import { configSchema, type HavenConfig } from './schema.js';

/** Environment variable → configuration path. Unknown HAVEN_* variables are reported too. */
export const envMap: Record<string, string[]> = {
  HAVEN_ENV: ['env'],
  HAVEN_HOST: ['http', 'host'],
  HAVEN_PORT: ['http', 'port'],
  HAVEN_BASE_URL: ['http', 'baseUrl'],
  HAVEN_MAX_BODY_BYTES: ['http', 'maxBodyBytes'],
  HAVEN_DATA_DIR: ['dataDir'],
  DATABASE_URL: ['database', 'url'],
  HAVEN_DB_POOL_SIZE: ['database', 'poolSize'],
  HAVEN_DB_STATEMENT_TIMEOUT_MS: ['database', 'statementTimeoutMs'],
  HAVEN_EMBEDDED_PG_PORT: ['database', 'embeddedPort'],
  HAVEN_PG_OS_USER: ['database', 'osUser'],
  HAVEN_MAX_BUNDLE_ENTRIES: ['fhir', 'maxBundleEntries'],
  HAVEN_DEFAULT_PAGE_SIZE: ['fhir', 'defaultPageSize'],
  HAVEN_MAX_PAGE_SIZE: ['fhir', 'maxPageSize'],
  HAVEN_ACCESS_TOKEN_TTL: ['auth', 'accessTokenTtlSeconds'],
  HAVEN_LOG_LEVEL: ['log', 'level'],
  HAVEN_AUDIT: ['audit', 'enabled'],
  HAVEN_AUDIT_HEAD_INTERVAL_MS: ['audit', 'headIntervalMs'],
  HAVEN_AUDIT_TIMEOUT_MS: ['audit', 'timeoutMs'],
  HAVEN_SHUTDOWN_GRACE_MS: ['shutdownGraceMs'],
  HAVEN_VALIDATE_ON_WRITE: ['validateOnWrite'],
  HAVEN_KMS: ['kms', 'provider'],
  HAVEN_ENCRYPTION: ['kms', 'encryption'],
  HAVEN_DEK_CACHE_SECONDS: ['kms', 'dekCacheSeconds'],
  HAVEN_PKCS11_LIBRARY: ['kms', 'pkcs11', 'library'],
  HAVEN_PKCS11_SLOT: ['kms', 'pkcs11', 'slot'],
  HAVEN_PKCS11_TOKEN_LABEL: ['kms', 'pkcs11', 'tokenLabel'],
  HAVEN_PKCS11_PIN: ['kms', 'pkcs11', 'pin'],
  HAVEN_PKCS11_KEK_LABEL: ['kms', 'pkcs11', 'kekLabel'],
};

/** Variables of the test and CI harness, not settings: ignored rather than refused. */
const harnessVariables = new Set(['HAVEN_REQUIRE_SOFTHSM', 'HAVEN_TEST_CONCURRENCY']);

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
  const raw: Record<string, unknown> = { http: {}, database: {}, fhir: {}, auth: {}, audit: {}, log: {}, kms: { pkcs11: {} } };
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


