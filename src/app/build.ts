import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
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
  accessFor,
  attachPatientWriteGuard,
  createCompartmentGuard,
  createIdentity,
  parseRoleMap,
  guardSearchForPatients,
  guardStoreForPatients,
  guardSystemSearchForScopes,
  scopeAllowsAllTypes,
} from '../auth/index.js';
import { HavenError } from '../kernel/index.js';
import { createIndexWriter, createResourceStore, emptyHooks, plaintextCodec, type Db } from '../store/index.js';
import { createSearchRunner } from '../store/search-runner.js';
import { createCommonTargets } from '../store/common-targets.js';
import { createBodyEncryption, createBlindIndexer } from '../crypto/index.js';
import { parseProtectedParams } from '../search/index.js';
import { AUDIT_EVENT_SEARCH_PARAMS, auditSettings, createAuditService, s3WitnessSettings, type AuditSettingsInput } from '../audit/index.js';
import { buildHttpApp } from '../http/app.js';
import { buildBulk } from './bulk.js';
import { createReencryptService } from '../store/reencrypt/service.js';
import { buildReindex } from './reindex.js';
import type { ReindexSettings } from '../reindex/index.js';
import { buildCapabilityStatement } from '../http/fhir/capabilities.js';
import { createAuditEventHandlers } from '../http/fhir/audit-events.js';
import { createBundleProcessor } from '../http/fhir/bundle.js';
import type { FhirDeps } from '../http/fhir/deps.js';
import { createFhirRouter, type FhirRouter } from '../http/fhir/router.js';
import { smartConfiguration } from '../http/smart-configuration.js';
import { createTxScope } from '../hl7v2/ingest/index.js';
import { buildHl7, defaultConverter, type Hl7Parts } from './hl7v2.js';
import { createMoveReferences } from './hl7v2-merge.js';
import { buildAccess } from './access.js';
import { basePathOf } from '../http/base-path.js';
import { createSessionStore } from '../auth/sessions.js';
import { sessionCookieName } from '../http/auth-routes.js';

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
  /** Reindex worker settings (tests: small batches). */
  reindex?: Partial<ReindexSettings>;
  /** HL7 v2 parser/converter overrides (tests); defaults are the real ones. */
  hl7?: Hl7Parts;
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
  // Resource bodies are envelope-encrypted at rest (HAVEN_ENCRYPTION=off only in tests).
  // Key look-ups happen inside write transactions: on the control connections (Db.control).
  const encryption = createBodyEncryption(config, { db: db.control, logger, clock });
  // The tree-head signing key is wrapped by the same KMS; heads also go to an S3 Object Lock bucket when configured.
  const witnessS3 = s3WitnessSettings(config.audit);
  const audit = createAuditService({
    db, clock, logger, settings: auditConfig,
    ...(encryption.kms ? { kms: encryption.kms } : {}),
    // Entries seal their PHI under the tenant's audit key (format v2); v1 with encryption off.
    ...(encryption.keyring ? { keyring: encryption.keyring } : {}),
    ...(witnessS3 ? { witnessS3 } : {}),
  });
  if (auditConfig.enabled) audit.attach(hooks);
  // HL7 v2 ingestion runs its status update inside the Bundle's own transaction (src/hl7v2/ingest/tx-scope.ts).
  const txScope = createTxScope(db);
  // Blind indexes: protected search values are stored and searched only as HMAC tags (docs/security/encryption.md).
  const blind = encryption.keyring
    ? { indexer: createBlindIndexer(encryption.keyring), policy: parseProtectedParams(config.kms.blindIndexParams) }
    : undefined;
  // A blind-indexed parameter keeps its own tag rows even where its values repeat other parameters' (src/fhir/union-params.ts).
  const fhir = createFhirDefinitions(blind ? { ownRows: (type, code) => blind.policy.isProtected(type, code) } : {});
  const indexWriter = createIndexWriter({ normalize: normalizeString, ...(blind ? { blind: { ...blind, normalize: normalizeString } } : {}) });
  // Custom SearchParameters take effect at run time; reindex jobs index existing data (docs/search.md).
  const reindex = buildReindex({
    db, fhir, codec: encryption.codec ?? plaintextCodec, indexWriter, hooks, tenant, logger, ...(parts.reindex ? { settings: parts.reindex } : {}),
    mayReindex: (ctx) => scopeAllowsAllTypes(ctx.principal, 'update'),
  });
  const store = txScope.wrapStore(createResourceStore({
    db: txScope.db,
    ...(db.search ? { searchDb: db.search } : {}),
    codec: encryption.codec ?? plaintextCodec,
    indexWriter,
    extract: (r, container) => fhir.indexer.extract(r, container),
    clock,
    hooks,
  }));
  // Access policies of roles, JIT elevation, break-glass (docs/security/identity.md): store hooks + guards below.
  const access = buildAccess({ db, clock, logger, registry: fhir.registry, normalize: normalizeString, paramsFor: (t) => fhir.compartments.paramsFor('Patient', t), ...(blind ? { blind } : {}) });
  access.attachHooks(hooks);
  // patient/ scopes: reads and searches limited to the token's patient compartment; granular scopes to their criteria, in SQL (docs/security/identity.md).
  const compartmentGuard = createCompartmentGuard({
    db,
    paramsFor: (c, t) => fhir.compartments.paramsFor(c, t),
    typesIn: (c) => fhir.compartments.resourceTypesIn(c),
    matcher: (ctx, t, ids, f) => access.matching(ctx, t, ids, f),
  });
  // Writes under patient/ scopes: the current and the new version must be in the token's patient compartment.
  attachPatientWriteGuard(hooks, compartmentGuard);
  const searchRunner = createSearchRunner({
      registry: fhir.registry,
      normalize: normalizeString,
      defaultCount: config.fhir.defaultPageSize,
      maxCount: config.fhir.maxPageSize,
      isResourceType: (t) => fhir.isResourceType(t),
      resourceTypes: fhir.resourceTypes,
      expandValueSet: (url) => validator.expandValueSet(url),
      ...(blind ? { blind } : {}),
      // Pages by id or literal reference plan generically unless they name one of these (src/search/plan-stability.ts).
      commonTargets: createCommonTargets(db.control),
  });
  const deps: FhirDeps = {
    store: access.guard.guardStore(guardStoreForPatients(store, compartmentGuard)),
    fhir,
    validate: (r) => validator.validate(r),
    elementsOf: (p) => validator.elementsOf(p),
    // System-level and `*` compartment searches pick their types by the scopes (http/fhir/search-scope.ts); guardSystemSearchForScopes limits them to a patient context.
    searcher: access.guardSearcher({ search: reindex.service.guardSearch(guardSearchForPatients(searchRunner.search, compartmentGuard)), searchSystem: guardSystemSearchForScopes(searchRunner.searchSystem, compartmentGuard) }),
    // Effective permission = token scopes ∩ the policies of the user's roles.
    authorize: (ctx, type, interaction) => {
      accessFor(ctx.principal, type, interaction);
      access.authorize(ctx, type, interaction);
    },
    authorizeSystem: (ctx, interaction) => {
      if (!scopeAllowsAllTypes(ctx.principal, interaction)) {
        throw new HavenError('forbidden', 'AUTH_SCOPE_INSUFFICIENT', `System-wide ${interaction} needs a system/*.${interaction === 'read' ? 'r' : 's'} scope`);
      }
    },
    limits: { maxBundleEntries: config.fhir.maxBundleEntries, validateOnWrite: config.validateOnWrite },
  };
  const startedAt = clock.now();
  // Rebuilt when custom SearchParameters change, so /metadata lists exactly what search accepts.
  let capability = { generation: -1, json: '' };
  const capabilityJson = (): string => {
    const generation = fhir.registry.generation;
    if (generation !== capability.generation) {
      const statement = buildCapabilityStatement({
        baseUrl: `${baseUrl}/fhir`,
        version: packageVersion(),
        resourceTypes: [...fhir.resourceTypes].sort(),
        searchParams: (t) => fhir.registry.forType(t),
        searchParamByUrl: (url) => fhir.registry.byUrl?.(url),
        startedAt,
        ...(auditConfig.enabled ? { auditEventSearchParams: AUDIT_EVENT_SEARCH_PARAMS } : {}),
        reindex: true,
      });
      capability = { generation, json: JSON.stringify(statement) };
    }
    return capability.json;
  };
  const routerOptions = {
    defaultPageSize: config.fhir.defaultPageSize,
    maxPageSize: config.fhir.maxPageSize,
    system: {
      bundle: (ctx: Parameters<FhirRouterFn>[0], req: Parameters<FhirRouterFn>[1]) => bundle(ctx, req),
      metadata: async () => {
        // Another node may have added a parameter: the same TTL-bounded check every search makes.
        // Metadata stays available while the database is not: it then lists what this node knows.
        await reindex.service.sync.refresh().catch(() => undefined);
        return { status: 200, headers: {}, body: capabilityJson() };
      },
      ...(auditConfig.enabled ? { auditEvents: createAuditEventHandlers(audit.api).handle } : {}),
    },
  };
  const bulk = buildBulk({
    config, db, store, codec: encryption.codec ?? plaintextCodec, keyring: encryption.keyring, fhir, clock, logger,
    audit: auditConfig.enabled ? audit.recorder : undefined,
    validate: config.validateOnWrite ? deps.validate : undefined,
  });
  const router: FhirRouter = access.guardOperations(createFhirRouter(deps, { ...routerOptions, operations: { ...bulk.operations(deps), reindex: reindex.operation } }));
  const bundle = createBundleProcessor(deps, router, { logger });
  const hl7Converter = defaultConverter(config.hl7v2.templatesDir);
  const hl7 = buildHl7({
    defaultConverter: hl7Converter,
    db, txScope, tenant, baseUrl, clock, logger, codec: encryption.codec ?? plaintextCodec, keyring: encryption.keyring, bundle,
    ...(auditConfig.enabled ? { recordRead: (ctx, facts) => audit.recorder.record(ctx, facts) } : {}),
    ...(parts.hl7 ? { parts: parts.hl7 } : {}),
    groupLimits: { maxMessages: config.hl7v2.groupMessages, maxInFlight: config.hl7v2.groupsInFlight },
    moveReferences: createMoveReferences({
      patientParams: () => [...fhir.resourceTypes].map((t): [string, readonly string[]] => [t, fhir.compartments.paramsFor('Patient', t)]).filter(([, p]) => p.length > 0),
      search: (ctx, reader, type, params) => searchRunner.search(ctx, reader, type, params, { strict: false }),
    }),
  });
  type FhirRouterFn = typeof router;

  const signingKeys = createSigningKeyStore({ db, clock });
  const clients = createClientRegistry({ db });
  const identity = createIdentity({
    db, tenant, clock, issuer: baseUrl, fhirBase: `${baseUrl}/fhir`, clients, accessKeys: signingKeys,
    codec: encryption.codec ?? plaintextCodec, settings: config.auth, ...federationOf(config),
    ...(auditConfig.enabled ? { recorder: audit.recorder } : {}),
    patientExists: async (id) => (await store.peek({ tenant, requestId: 'patient-picker', principal: { subject: 'haven', clientId: 'haven', kind: 'system', scopes: [] } }, 'Patient', id))?.deleted === false,
  });
  // A workforce user's fhirUser link must resolve when it is made (docs/security/identity.md, "Identity planes").
  const fhirUserExists = async (type: string, id: string) =>
    (await store.peek({ tenant, requestId: 'fhir-user-link', principal: { subject: 'haven', clientId: 'haven', kind: 'system', scopes: [] } }, type, id))?.deleted === false;
  const tokenEndpoint = createTokenEndpoint({
    appGrants: identity.appGrants,
    db,
    clients,
    signingKeys,
    issuer: baseUrl,
    audience: `${baseUrl}/fhir`,
    clock,
    accessTokenTtlSeconds: config.auth.machineAccessTokenTtlSeconds ?? config.auth.accessTokenTtlSeconds,
  });
  const verifier = createTokenVerifier({ issuer: baseUrl, audience: `${baseUrl}/fhir`, keys: signingKeys, clock, revocations: identity.revocations });

  const http = buildHttpApp({
    logger,
    baseUrl,
    tenant,
    maxBodyBytes: config.http.maxBodyBytes,
    router,
    authenticate: async (header) => access.resolver.attach(await verifier.verify(header, tenant)),
    issueToken: (form, tokenUrl, request) => tokenEndpoint.issueToken(form, { tokenUrl, tenant, ...request }),
    oauthError: (err) => (isOAuthError(err) ? { status: oauthErrorStatus(err), body: oauthErrorBody(err) } : undefined),
    jwks: async () => ({ keys: [...(await signingKeys.jwks(tenant)).keys, ...(await identity.idTokenKeys.jwks(tenant)).keys] }),
    identity: {
      routes: {
        flow: identity.flow,
        tokenAdmin: identity.withVerifier(verifier),
        account: { clock, sessions: identity.sessions, users: identity.users, recoveryCodes: identity.recoveryCodes, audit: identity.audit, mfaRequired: (t) => identity.tenantSettings.mfaRequired(t) },
      },
      admin: { tenant, clock, users: identity.users, recoveryCodes: identity.recoveryCodes, sessions: identity.sessions, grants: identity.grants, clients, launches: identity.launches, audit: identity.audit, settings: identity.tenantSettings, fhirUserExists },
    },
    smartConfiguration,
    // Not ready while the S3 witness keeps failing: signed heads are piling up unpublished.
    ready: async () => (await parts.ready()) && (audit.sequencer.witnessStatus()?.healthy ?? true),
    hl7: { api: hl7.api, metrics: hl7.metrics },
    ...(auditConfig.enabled ? { audit: { hooks: audit.http, api: audit.api } } : {}),
    bulk: bulk.service,
    access: {
      roles: access.roles, elevations: access.elevations, resolver: access.resolver, audit: identity.audit, checkCriteria: access.checkCriteria,
      breakGlassMinutes: config.auth.breakGlassMinutes, maxElevationMinutes: config.auth.maxElevationMinutes,
      page: {
        sessions: createSessionStore({ db, policy: (t) => identity.tenantSettings.sessionPolicy(t) }),
        users: identity.users, cookieName: sessionCookieName(baseUrl), basePath: basePathOf(baseUrl), clock, mfaRequired: (t) => identity.tenantSettings.mfaRequired(t),
      },
    },
    trustedProxies: config.http.trustedProxies,
    ...(config.http.tlsCert && config.http.tlsKey ? { tls: { cert: readFileSync(config.http.tlsCert), key: readFileSync(config.http.tlsKey) } } : {}),
  });
  // Export workers and the expiry sweep run while the server listens (every node: the queue is shared).
  http.addHook('onReady', async () => bulk.service.start());
  http.addHook('onClose', () => bulk.service.stop());
  http.addHook('onReady', async () => reindex.service.start());
  http.addHook('onClose', () => reindex.service.stop());
  // DEK re-encryption (haven keys rotate --dek --background) runs on every node, like exports.
  const reencrypt = encryption.keyring ? createReencryptService({ db, keyring: encryption.keyring, logger, blobDir: config.blobDir ?? join(resolve(config.dataDir), 'blobs') }) : undefined;
  http.addHook('onReady', async () => reencrypt?.start());
  http.addHook('onClose', async () => reencrypt?.stop());
  http.addHook('onClose', () => encryption.close());
  return { http, store, fhir, clients, deps, encryption, audit, bulk: bulk.service, hl7, hl7Converter, reindex: reindex.service };
}

/**
 * External OpenID providers (docs/security/identity.md, Federation): the one of HAVEN_OIDC_ISSUER, when set,
 * keeps its id `default` and its callback `/auth/federated/callback`; each of HAVEN_OIDC_PROVIDERS gets
 * `/auth/federated/<id>/callback`.
 */
function federationOf(config: HavenConfig) {
  const { issuer, clientId, clientSecret, rolesClaim, roleMap, name, providers = [] } = config.auth.oidc;
  const allowHttp = config.env !== 'production';
  const single = issuer && clientId && clientSecret
    ? [{ id: 'default', issuer, clientId, clientSecret, rolesClaim, roleMap: parseRoleMap(roleMap), name, usernameQualifier: new URL(issuer).host, callbackPath: '/auth/federated/callback', allowHttp }]
    : [];
  const listed = providers.map((p) => ({
    ...p,
    roleMap: new Map(Object.entries(p.roleMap)),
    usernameQualifier: p.id,
    callbackPath: `/auth/federated/${p.id}/callback`,
    allowHttp,
  }));
  const federations = [...single, ...listed];
  return federations.length > 0 ? { federations } : {};
}
