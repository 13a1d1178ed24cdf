import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../src/app/build.js';
import { loadConfig } from '../../src/config/index.js';
import { DEFAULT_TENANT, isHavenError, silentLogger, type RequestContext } from '../../src/kernel/index.js';
import { search, searchCompartment, searchSystem } from '../../src/http/fhir/search.js';
import type { FhirRequest } from '../../src/http/fhir/types.js';
import { createTestDb, type TestDb } from '../support/db.js';

/**
 * A token with a patient context may only see its patient's compartment.
 * Searches that span types run limited to it, as do includes, chains and `_has`
 * (test/http/patient-compartment-links.test.ts, which checks nothing leaks);
 * another patient's compartment, or a named type outside it, is refused (403 AUTH_PATIENT_COMPARTMENT).
 * Runs the composition root's real FHIR deps; the principal is built directly
 * instead of through a SMART launch.
 */
let t: TestDb;
let dataDir: string;
let app: ReturnType<typeof buildApp>;

before(async () => {
  t = await createTestDb();
  dataDir = mkdtempSync(join(tmpdir(), 'haven-pctx-'));
  const config = loadConfig({ HAVEN_DATA_DIR: dataDir, HAVEN_AUDIT: 'off', HAVEN_ENV: 'test' });
  app = buildApp({ config, db: t.db, logger: silentLogger, baseUrl: 'http://haven.test', tenant: DEFAULT_TENANT, ready: async () => true });
});
after(async () => {
  await app?.http.close();
  await t?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

const ctx = {
  tenant: DEFAULT_TENANT,
  requestId: 'pctx',
  principal: { subject: 'u1', clientId: 'app', kind: 'user', scopes: ['patient/*.rs'], patient: 'p1' },
} as RequestContext;

const req = (path: string[], query: [string, string][]): FhirRequest => ({ method: 'GET', path, query, headers: {}, baseUrl: 'http://haven.test/fhir' });

async function refused(work: Promise<unknown>): Promise<void> {
  await assert.rejects(work, (err: unknown) => isHavenError(err) && err.code === 'AUTH_PATIENT_COMPARTMENT' && err.category === 'forbidden');
}

test('patient context: system-level and own * compartment searches run; others are refused', async () => {
  assert.equal((await searchSystem(app.deps, ctx, req([], [['_type', 'Observation,Condition']]))).status, 200);
  assert.equal((await searchSystem(app.deps, ctx, req([], []))).status, 200);
  assert.equal((await searchCompartment(app.deps, ctx, req(['Patient', 'p1', '*'], []))).status, 200);
  await refused(searchCompartment(app.deps, ctx, req(['Patient', 'p2', '*'], [])));
  await refused(searchCompartment(app.deps, ctx, req(['Patient', 'p2', 'Observation'], [])));
  // Another compartment runs intersected with the patient's (test/http/patient-other-compartments.test.ts).
  assert.equal((await searchCompartment(app.deps, ctx, req(['Encounter', 'e1', '*'], []))).status, 200);
  await refused(searchSystem(app.deps, ctx, req([], [['_type', 'Observation,Practitioner']])));
});

test('patient context: includes run (limited to the compartment)', async () => {
  assert.equal((await search(app.deps, ctx, req(['Observation'], [['_include', 'Observation:performer']]))).status, 200);
  assert.equal((await search(app.deps, ctx, req(['Patient'], [['_revinclude', 'Observation:subject']]))).status, 200);
});

test('patient context: a plain type search still runs (narrowed by the auth guard)', async () => {
  const res = await search(app.deps, ctx, req(['Observation'], []));
  assert.equal(res.status, 200);
});
