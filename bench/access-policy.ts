/**
 * Per-request cost of token verification + access-policy resolution and
 * decision (issue 5: ≤ 0.2 ms per request). Real verifier, real resolver on a
 * real database; the first call of each user loads from PostgreSQL, then the
 * cache serves. Two paths: the cached one every request after a token's first
 * takes, and the first sight of a token (signature check and claims; keys
 * already loaded, so no query). Figures are Node CPU time per request
 * (process.cpuUsage), which load from other processes does not inflate the way
 * it does wall time; wall time is recorded beside it.
 *
 *   node dist/bench/access-policy.js      (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { machineFacts } from './machine.js';
import { signAccessToken } from '../src/auth/access-token.js';
import { createSigningKeyStore, createTokenVerifier, requirePolicy, restrictionFor, hiddenElements } from '../src/auth/index.js';
import { createRevocations } from '../src/auth/revocations.js';
import { buildAccess } from '../src/app/access.js';
import { createFhirDefinitions, normalizeString } from '../src/fhir/index.js';
import { DEFAULT_TENANT, silentLogger, systemClock, type RequestContext } from '../src/kernel/index.js';
import { createTestDb } from '../test/support/db.js';

const ISS = 'https://haven.bench';
const loadStart = os.loadavg();
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
  // As in production (src/app/build.ts): the revocation check runs on every verification, cached or not.
  const verifier = createTokenVerifier({ issuer: ISS, audience: `${ISS}/fhir`, keys, clock: systemClock, revocations: createRevocations({ db: t.db, clock: systemClock }) });
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
  /** Node CPU and wall milliseconds per call of `run(i)`, over `count` calls. */
  const perCall = async (count: number, run: (i: number) => Promise<unknown>) => {
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) await run(i);
    const used = process.cpuUsage(cpu);
    return { cpuMs: (used.user + used.system) / 1000 / count, wallMs: Number(process.hrtime.bigint() - start) / 1e6 / count };
  };
  const verifyOnly = await perCall(n, (i) => once(i, false));
  const withPolicy = await perCall(n, (i) => once(i, true));
  // First sight: tokens signed beforehand (signing is not part of a request), each verified once.
  const fresh = 2_000;
  const unseen = await Promise.all(Array.from({ length: fresh }, (_, i) => signAccessToken(keys, {
    tenant: DEFAULT_TENANT, clientId: 'app', scopes: ['user/*.rs'], isAdmin: false, issuer: ISS, audience: `${ISS}/fhir`, now: new Date(), ttlSeconds: 600, userId: `u${i % users}`,
  })));
  const firstSight = await perCall(fresh, (i) => verifier.verify(`Bearer ${unseen[i]}`, DEFAULT_TENANT));
  const result = {
    date: new Date().toISOString(),
    method: 'Node CPU (process.cpuUsage user+system) and wall time per verification, in one process; no PostgreSQL work on these paths (keys and access cached, checked by the warm-up)',
    machine: { ...machineFacts(), loadAverageStart: loadStart, loadAverageEnd: os.loadavg() },
    iterations: n,
    users,
    cached: { verifyOnly, verifyAndPolicy: withPolicy },
    firstSight: { tokens: fresh, verify: firstSight },
    accessTokenAlg: JSON.parse(Buffer.from(unseen[0]!.split('.')[0]!, 'base64url').toString()).alg as string,
  };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(`bench/results/access-policy-cpu-${result.date.slice(0, 10)}.json`, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await t.drop();
}
