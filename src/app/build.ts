import { createRequire } from 'node:module';
import type { HavenConfig } from '../config/index.js';
import { createFhirDefinitions, normalizeString } from '../fhir/index.js';
import { createValidator } from '../fhir/validation/index.js';
import { systemClock, type Clock, type Logger, type TenantId } from '../kernel/index.js';
import {
  createClientRegistry,
  createSigningKeyStore,
  createTokenEndpoint,
  createTokenVerifier,
  isOAuthError,
  oauthErrorBody,
  oauthErrorStatus,
  requireScope,
  scopeAllowsAllTypes,
} from '../auth/index.js';
import { HavenError } from '../kernel/index.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type Db } from '../store/index.js';
import { createSearchRunner } from '../store/search-runner.js';
import { createBodyEncryption } from '../crypto/index.js';
import { auditSettings, createAuditService, type AuditSettingsInput } from '../audit/index.js';
import { buildHttpApp } from '../http/app.js';
import { buildCapabilityStatement } from '../http/fhir/capabilities.js';
import { createBundleProcessor } from '../http/fhir/bundle.js';
import type { FhirDeps } from '../http/fhir/deps.js';
import { createFhirRouter } from '../http/fhir/router.js';
import { smartConfiguration } from '../http/smart-configuration.js';

export interface AppParts {
  config: HavenConfig;
  db: Db;
  logger: Logger;
  baseUrl: string;
  tenant: TenantId;
  clock?: Clock;
  /** Whether the database is reachable (for /readyz). */
  ready: () => Promise<boolean>;
  /** Audit overrides (cadence, timeout, node id; `enabled: false` only when env is test). */
  audit?: Partial<Omit<AuditSettingsInput, 'env' | 'dataDir'>>;
}

function packageVersion(): string {
  const require = createRequire(import.meta.url);
  try {
    return (require('../../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

/** The composition root: the only place concrete parts are built and wired. */
export function buildApp(parts: AppParts) {
  const { config, db, logger, baseUrl, tenant } = parts;
  const clock = parts.clock ?? systemClock;
  const fhir = createFhirDefinitions();
  const validator = createValidator();
  const hooks = emptyHooks();
  // Audit: every PHI access and change, tamper-evident (docs/security/audit.md).
  const auditConfig = auditSettings({
    env: config.env,
    dataDir: config.dataDir,
    enabled: config.audit.enabled,
    headIntervalMs: config.audit.headIntervalMs,
    timeoutMs: config.audit.timeoutMs,
    ...parts.audit,
  });
  const audit = createAuditService({ db, clock, logger, settings: auditConfig });
  if (auditConfig.enabled) audit.attach(hooks);
  // Resource bodies are envelope-encrypted at rest (HAVEN_ENCRYPTION=off only in tests).
  const encryption = createBodyEncryption(config, { db, logger, clock });
  const store = createResourceStore({
    db,
    codec: encryption.codec ?? plaintextCodec,
    indexWriter: createIndexWriter({ normalize: normalizeString }),
    extract: (r) => fhir.indexer.extract(r),
    clock,
    hooks,
  });
  const deps: FhirDeps = {
    store,
    fhir,
    validate: (r) => validator.validate(r),
    searcher: createSearchRunner({
      registry: fhir.registry,
      normalize: normalizeString,
      defaultCount: config.fhir.defaultPageSize,
      maxCount: config.fhir.maxPageSize,
    }),
    authorize: (ctx, type, interaction) => requireScope(ctx.principal, type, interaction),
    authorizeSystem: (ctx, interaction) => {
      if (!scopeAllowsAllTypes(ctx.principal, interaction)) {
        throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', `System-wide ${interaction} needs a system/*.${interaction === 'read' ? 'r' : 's'} scope`);
      }
    },
    limits: { maxBundleEntries: config.fhir.maxBundleEntries, validateOnWrite: config.validateOnWrite },
  };
  const startedAt = clock.now();
  const capabilityStatement = buildCapabilityStatement({
    baseUrl: `${baseUrl}/fhir`,
    version: packageVersion(),
    resourceTypes: [...fhir.resourceTypes].sort(),
    searchParams: (t) => fhir.registry.forType(t),
    startedAt,
  });
  const capabilityJson = JSON.stringify(capabilityStatement);
  const routerOptions = {
    defaultPageSize: config.fhir.defaultPageSize,
    maxPageSize: config.fhir.maxPageSize,
    system: {
      bundle: (ctx: Parameters<FhirRouterFn>[0], req: Parameters<FhirRouterFn>[1]) => bundle(ctx, req),
      metadata: () => ({ status: 200, headers: {}, body: capabilityJson }),
    },
  };
  const router = createFhirRouter(deps, routerOptions);
  const bundle = createBundleProcessor(deps, router, { logger });
  type FhirRouterFn = typeof router;

  const signingKeys = createSigningKeyStore({ db, clock });
  const clients = createClientRegistry({ db });
  const tokenEndpoint = createTokenEndpoint({
    db,
    clients,
    signingKeys,
    issuer: baseUrl,
    audience: `${baseUrl}/fhir`,
    clock,
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
  });
  const verifier = createTokenVerifier({ issuer: baseUrl, audience: `${baseUrl}/fhir`, keys: signingKeys, clock });

  const http = buildHttpApp({
    logger,
    baseUrl,
    tenant,
    maxBodyBytes: config.http.maxBodyBytes,
    router,
    authenticate: (header) => verifier.verify(header, tenant),
    issueToken: (form, tokenUrl) => tokenEndpoint.issueToken(form, { tokenUrl, tenant }),
    oauthError: (err) => (isOAuthError(err) ? { status: oauthErrorStatus(err), body: oauthErrorBody(err) } : undefined),
    jwks: () => signingKeys.jwks(tenant),
    smartConfiguration,
    ready: parts.ready,
    ...(auditConfig.enabled ? { audit: { hooks: audit.http, api: audit.api } } : {}),
  });
  http.addHook('onClose', () => encryption.close());
  return { http, store, fhir, clients, deps, encryption, audit };
}
