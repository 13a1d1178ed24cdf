/**
 * What limiting a patient-context search's reach to the compartment costs
 * (issue 5: includes, `_has` and chains under `patient/` scopes, compiled into
 * the same SQL). Each query runs twice over the same data and returns the same
 * resources: as the patient (limit on) and as a `user/*.rs` token with the
 * equivalent explicit patient filter (limit off). Reports Node and PostgreSQL
 * CPU per query (bench/cpu-meter.ts), not wall clock: the machine is shared.
 *
 *   node dist/bench/patient-compartment.js [patients=2000] [rounds=3]   (TEST_DATABASE_URL or DATABASE_URL: a PostgreSQL on this host)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../src/app/build.js';
import { loadConfig } from '../src/config/index.js';
import { DEFAULT_TENANT, silentLogger, type RequestContext } from '../src/kernel/index.js';
import { search } from '../src/http/fhir/search.js';
import type { FhirRequest } from '../src/http/fhir/types.js';
import type { WriteOperation } from '../src/store/index.js';
import { createTestDb } from '../test/support/db.js';
import { createCpuMeter } from './cpu-meter.js';

const patients = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 3);
const sample = Math.min(200, patients);

const t = await createTestDb();
const dataDir = mkdtempSync(join(tmpdir(), 'haven-bench-pc-'));
const config = loadConfig({ HAVEN_DATA_DIR: dataDir, HAVEN_AUDIT: 'off', HAVEN_ENCRYPTION: 'off', HAVEN_ENV: 'test' });
const app = buildApp({ config, db: t.db, logger: silentLogger, baseUrl: 'http://haven.bench', tenant: DEFAULT_TENANT, ready: async () => true });
const ctxOf = (principal: object) => ({ tenant: DEFAULT_TENANT, requestId: 'bench', principal }) as RequestContext;
const adminCtx = ctxOf({ subject: 'bench', clientId: 'bench', kind: 'client', scopes: ['system/*.cruds'] });

/** Per patient: 2 encounters, 10 observations over them, one panel naming 3 of them. */
function patientResources(i: number): WriteOperation[] {
  const p = `p${i}`;
  const ops: WriteOperation[] = [{ kind: 'update', id: p, resource: { resourceType: 'Patient', id: p, name: [{ family: `F${i}` }] } }];
  for (const e of [0, 1]) {
    ops.push({ kind: 'update', id: `${p}-e${e}`, resource: { resourceType: 'Encounter', id: `${p}-e${e}`, status: e === 0 ? 'finished' : 'in-progress', class: { code: 'AMB' }, subject: { reference: `Patient/${p}` } } });
  }
  for (let j = 0; j < 10; j++) {
    ops.push({ kind: 'update', id: `${p}-o${j}`, resource: { resourceType: 'Observation', id: `${p}-o${j}`, status: 'final', code: { coding: [{ code: `c${j}` }] }, subject: { reference: `Patient/${p}` }, encounter: { reference: `Encounter/${p}-e${j % 2}` } } });
  }
  ops.push({ kind: 'update', id: `${p}-panel`, resource: { resourceType: 'Observation', id: `${p}-panel`, status: 'final', code: { coding: [{ code: 'panel' }] }, subject: { reference: `Patient/${p}` }, hasMember: [0, 1, 2].map((j) => ({ reference: `Observation/${p}-o${j}` })) } });
  return ops;
}

const req = (type: string, query: [string, string][]): FhirRequest => ({ method: 'GET', path: [type], query, headers: {}, baseUrl: 'http://haven.bench/fhir' });

/** [type, params for the patient token, extra params giving a user token the same result]. */
const QUERIES: Record<string, (p: string) => [string, [string, string][], [string, string][]]> = {
  include: (p) => ['Observation', [['_include', 'Observation:encounter'], ['_include', 'Observation:has-member'], ['_revinclude', 'Observation:has-member']], [['subject', `Patient/${p}`]]],
  iterate: (p) => ['Patient', [['_revinclude', 'Observation:subject'], ['_include:iterate', 'Observation:encounter']], [['_id', p]]],
  has: (p) => ['Encounter', [['_has:Observation:encounter:code', 'c1']], [['patient', `Patient/${p}`]]],
  chain: (p) => ['Observation', [['encounter:Encounter.status', 'finished']], [['subject', `Patient/${p}`]]],
};

try {
  const seedStart = Date.now();
  for (let i = 0; i < patients; i += 50) {
    const ops = Array.from({ length: Math.min(50, patients - i) }, (_, k) => patientResources(i + k)).flat();
    await app.deps.store.transaction(adminCtx, (tx) => tx.write(adminCtx, ops));
  }
  await t.db.query('ANALYZE');
  console.error(`seeded ${patients} patients (${patients * 14} resources) in ${Date.now() - seedStart} ms`);
  const meter = await createCpuMeter(process.pid, t.url, undefined);
  const results: Record<string, unknown> = {};
  for (const [name, q] of Object.entries(QUERIES)) {
    const run = async (limited: boolean): Promise<number> => {
      let found = 0;
      for (let i = 0; i < sample; i++) {
        const p = `p${(i * 7919) % patients}`;
        const [type, params, extra] = q(p);
        const ctx = limited
          ? ctxOf({ subject: 'u', clientId: 'app', kind: 'user', scopes: ['patient/*.rs'], patient: p })
          : ctxOf({ subject: 'u', clientId: 'app', kind: 'user', scopes: ['user/*.rs'] });
        const res = await search(app.deps, ctx, req(type, limited ? params : [...params, ...extra]));
        const body = (typeof res.body === 'string' ? JSON.parse(res.body) : res.body) as { entry?: unknown[] };
        found += body.entry?.length ?? 0;
      }
      return found;
    };
    const figures: Record<string, { nodeCpuMsPerQuery: number; pgCpuMsPerQuery: number; entries: number }> = {};
    await run(true); // warm both paths and PostgreSQL's caches
    await run(false);
    for (const limited of [false, true]) {
      const key = limited ? 'limited' : 'unlimited';
      let node = 0;
      let pgMs = 0;
      let entries = 0;
      for (let r = 0; r < rounds; r++) {
        const before = await meter.snapshot();
        const cpu = process.cpuUsage();
        entries = await run(limited);
        const used = process.cpuUsage(cpu);
        const after = await meter.snapshot();
        node += (used.user + used.system) / 1000;
        pgMs += after.pgMs - before.pgMs;
      }
      const n = sample * rounds;
      figures[key] = { nodeCpuMsPerQuery: Math.round((node / n) * 1000) / 1000, pgCpuMsPerQuery: Math.round((pgMs / n) * 1000) / 1000, entries };
    }
    if (figures['limited']!.entries !== figures['unlimited']!.entries) throw new Error(`${name}: the two tokens saw different results`);
    results[name] = figures;
  }
  await meter.close();
  const result = { date: new Date().toISOString(), patients, resources: patients * 14, sampledPatients: sample, rounds, loadavg: loadavg().map((l) => Math.round(l * 100) / 100), queries: results };
  console.log(JSON.stringify(result, null, 2));
  writeFileSync(`bench/results/patient-compartment-${result.date.slice(0, 16).replace(/:/g, '-')}.json`, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await app.http.close();
  await t.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
