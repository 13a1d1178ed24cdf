/**
 * Per-request cost of token verification + access-policy resolution and
 * decision, on the cached path every request after the first takes (issue 5:
 * ≤ 0.2 ms per request). Real verifier, real resolver on a real database;
 * the first call of each user loads from PostgreSQL, then the cache serves.
 *
 *   node dist/bench/access-policy.js      (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
 */
import { writeFileSync } from 'node:fs';
import { signAccessToken } from '../src/auth/access-token.js';
import { createSigningKeyStore, createTokenVerifier, requirePolicy, restrictionFor, hiddenElements } from '../src/auth/index.js';
import { buildAccess } from '../src/app/access.js';
import { createFhirDefinitions, normalizeString } from '../src/fhir/index.js';
import { DEFAULT_TENANT, silentLogger, systemClock, type RequestContext } from '../src/kernel/index.js';
import { createTestDb } from '../test/support/db.js';

const ISS = 'https://haven.bench';
const t = await createTestDb();
try {
  const fhir = createFhirDefinitions();
  const access = buildAccess({ db: t.db, clock: systemClock, logger: silentLogger, registry: fhir.registry, normalize: normalizeString, paramsFor: (ty) => fhir.compartments.paramsFor('Patient', ty) });
  await access.roles.put(DEFAULT_TENANT, { name: 'clerk', breakGlass: false, approver: false, policies: [
    { resourceType: 'Patient', interactions: ['read', 'search'], criteria: 'organization=Organization/1', hide: ['telecom'] },
    { resourceType: 'Observation', interactions: ['read', 'search'], criteria: 'category=laboratory' },
  ] }, 'bench');
  const users = 50;
  for (let i = 0; i < users; i++) {
    await t.db.query(`INSERT INTO app_user (tenant_id, user_id, username, password_hash, roles, plane) VALUES ($1, $2, $3, 'x', '{clerk}', 'workforce')`, [DEFAULT_TENANT, `u${i}`, `u${i}`]);
  }
  const keys = createSigningKeyStore({ db: t.db, clock: systemClock });
  const verifier = createTokenVerifier({ issuer: ISS, audience: `${ISS}/fhir`, keys, clock: systemClock });
  const tokens = await Promise.all(Array.from({ length: users }, (_, i) => signAccessToken(keys, {
    tenant: DEFAULT_TENANT, clientId: 'app', scopes: ['user/*.rs'], isAdmin: false, issuer: ISS, audience: `${ISS}/fhir`, now: new Date(), ttlSeconds: 600, userId: `u${i}`,
  })));
  const cp = { paramsFor: (ty: string) => fhir.compartments.paramsFor('Patient', ty) };
  async function once(i: number, withPolicy: boolean): Promise<void> {
    const principal = await verifier.verify(`Bearer ${tokens[i % users]}`, DEFAULT_TENANT);
    if (!withPolicy) return;
    const attached = await access.resolver.attach(principal);
    const ctx = { tenant: DEFAULT_TENANT, requestId: 'b', principal: attached } as RequestContext;
    requirePolicy(ctx, 'Patient', 'search');
    restrictionFor(ctx, 'Patient', 'search', cp);
    hiddenElements(ctx, 'Patient');
  }
  for (let i = 0; i < users * 4; i++) await once(i, true); // warm: keys, verified-token cache, access cache
  const n = 200_000;
  const measure = async (withPolicy: boolean) => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await once(i, withPolicy);
    return Number(process.hrtime.bigint() - start) / 1e6 / n;
  };
  const verifyOnly = await measure(false);
  const withPolicy = await measure(true);
  const result = { date: new Date().toISOString(), iterations: n, users, msPerRequestVerifyOnly: verifyOnly, msPerRequestVerifyAndPolicy: withPolicy, policyOverheadMs: withPolicy - verifyOnly };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(`bench/results/access-policy-${result.date.slice(0, 10)}.json`, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await t.drop();
}
