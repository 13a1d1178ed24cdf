/**
 * What includeAssociatedData=RelevantProvenanceResources costs end to end, for
 * a one-patient Patient-level export and a full system export, with the code
 * of this tree ("after") against another build ("before", --before DIR: a
 * build of the earlier commit, e.g. `git archive 2068c4a | tar -x -C DIR`,
 * node_modules linked, `npx tsc`). Both servers run in turn on the same
 * external PostgreSQL database and data dir, alternating, each export with
 * and without the associated data: the difference is the Provenance pass.
 * Figures: PostgreSQL CPU (the database's backends, /proc) and server CPU.
 *
 *   node dist/bench/bulk-provenance.js --before /tmp/bulk-before [--patients 400] [--rounds 3] [--reuse]
 */
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createFhirClient, readBootstrap, type FhirClient } from '../src/cli/client.js';
import { runSynth } from '../src/cli/synth.js';
import { createCpuMeter, cpuMsOf } from './cpu-meter.js';
import { machineFacts } from './machine.js';
import { databaseUrl, freshDatabase } from './pg-admin.js';
import { createTokenHolder, startServerChild } from './server-process.js';
import { round } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const patients = Number(opt('patients', '400'));
const rounds = Number(opt('rounds', '3'));
const beforeDir = resolve(opt('before', '/tmp/bulk-before'));
const reuse = args.includes('--reuse');
const serverUrl = opt('db', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const dbName = 'haven_bench_prov';
const dataDir = '/tmp/haven-bench-prov';
const VERSIONS = ['before', 'beforeNoJit', 'after'];
const loadAverage = () => os.loadavg().map((l) => round(l, 2));

/** One Provenance per other resource of every second patient's record, and a second one (two targets) for every tenth. */
async function loadProvenance(client: FhirClient, db: pg.Client): Promise<number> {
  const rows = (
    await db.query<{ resource_type: string; id: string }>(
      `SELECT resource_type, id FROM resource WHERE tenant_id = 'default' AND NOT deleted AND resource_type NOT IN ('Patient', 'Provenance') ORDER BY resource_type, id`,
    )
  ).rows.filter((_r, i) => i % 2 === 0);
  const provenance = rows.map((r, i) => ({
    resourceType: 'Provenance',
    target: [{ reference: `${r.resource_type}/${r.id}` }, ...(i % 10 === 0 && rows[i + 1] ? [{ reference: `${rows[i + 1]!.resource_type}/${rows[i + 1]!.id}` }] : [])],
    recorded: new Date(Date.UTC(2024, 0, 1) + i * 60_000).toISOString(),
    agent: [{ who: { display: 'Bench loader' } }],
  }));
  for (let i = 0; i < provenance.length; i += 100) {
    const entry = provenance.slice(i, i + 100).map((resource) => ({ resource, request: { method: 'POST', url: 'Provenance' } }));
    const res = await client.request('POST', '', { resourceType: 'Bundle', type: 'batch', entry });
    if (res.status !== 200) throw new Error(`Provenance batch answered ${res.status}`);
  }
  return provenance.length;
}

async function call(url: string, token: string, init: RequestInit = {}) {
  const res = await fetch(url, { ...init, headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(init.headers as Record<string, string> | undefined) } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? (JSON.parse(text) as unknown) : undefined };
}

interface Scenario {
  name: string;
  path: string;
  body?: unknown;
}

/** Kick-off to manifest; the Provenance ids of the associated files (to compare before and after). */
async function runExport(baseUrl: string, token: string, s: Scenario) {
  const init: RequestInit = s.body ? { method: 'POST', body: JSON.stringify(s.body), headers: { prefer: 'respond-async', 'content-type': 'application/fhir+json' } } : { headers: { prefer: 'respond-async' } };
  const k = await call(`${baseUrl}/fhir/${s.path}`, token, init);
  if (k.status !== 202) throw new Error(`${s.name}: kick-off answered ${k.status} ${JSON.stringify(k.body)}`);
  const statusUrl = k.headers.get('content-location')!;
  for (;;) {
    await new Promise((r) => setTimeout(r, 200));
    const st = await call(statusUrl, token);
    if (st.status === 200) {
      const manifest = st.body as { output: { type: string; url: string; count: number }[] };
      const resources = manifest.output.reduce((a, o) => a + o.count, 0);
      const provenanceFiles = manifest.output.filter((o) => o.type === 'Provenance');
      const ids: string[] = [];
      for (const f of provenanceFiles) {
        const text = await (await fetch(f.url, { headers: { authorization: `Bearer ${token}` } })).text();
        for (const line of text.split('\n')) if (line) ids.push((JSON.parse(line) as { id: string }).id);
      }
      await call(statusUrl, token, { method: 'DELETE' });
      return { resources, provenance: ids.sort() };
    }
    if (st.status !== 202 && st.status !== 429) throw new Error(`${s.name}: status answered ${st.status}`);
  }
}

async function main(): Promise<void> {
  const loadStart = loadAverage();
  const dbUrl = reuse ? databaseUrl(serverUrl, dbName) : await freshDatabase(serverUrl, dbName);
  if (!reuse) rmSync(dataDir, { recursive: true, force: true });
  const env = { HAVEN_BULK_MAX_FILE_RESOURCES: '10000', HAVEN_BULK_WORKERS: '2' };
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  let loadSeconds = 0;
  let provenanceLoaded = 0;
  if (!reuse) {
    const server = await startServerChild({ dataDir, port: 18493, databaseUrl: dbUrl, env });
    const t = performance.now();
    const client = createFhirClient(server.baseUrl, await readBootstrap(dataDir));
    await runSynth(client, { patients, seed: 3, concurrency: 3 });
    provenanceLoaded = await loadProvenance(client, db);
    loadSeconds = (performance.now() - t) / 1000;
    await db.query('ANALYZE');
    await server.stop();
  }
  const counts = (await db.query<{ resource_type: string; n: number }>(`SELECT resource_type, count(*)::int AS n FROM resource WHERE NOT deleted GROUP BY 1`)).rows;
  const types = counts.map((c) => c.resource_type).filter((t) => t !== 'Provenance').sort().join(',');
  const patient = (await db.query<{ id: string }>(`SELECT id FROM resource WHERE resource_type = 'Patient' ORDER BY id LIMIT 1`)).rows[0]!.id;
  const onePatient = (associated: boolean) => ({
    resourceType: 'Parameters',
    parameter: [{ name: 'patient', valueReference: { reference: `Patient/${patient}` } }, ...(associated ? [{ name: 'includeAssociatedData', valueCode: 'RelevantProvenanceResources' }] : [])],
  });
  const scenarios: Scenario[] = [
    { name: 'onePatient', path: 'Patient/$export', body: onePatient(false) },
    { name: 'onePatientAssociated', path: 'Patient/$export', body: onePatient(true) },
    // Every stored type but Provenance: the associated files then hold the Provenance (with them as a type, none would be added).
    { name: 'system', path: `$export?_type=${types}` },
    { name: 'systemAssociated', path: `$export?_type=${types}&includeAssociatedData=RelevantProvenanceResources` },
  ];
  const runs: Record<string, unknown>[] = [];
  const seen: Record<string, string> = {};
  for (let r = 0; r < rounds; r++) {
    // Alternating, and the order flipped every round, so drift in the machine's load hits all.
    const order = r % 2 === 0 ? VERSIONS : [...VERSIONS].reverse();
    for (const version of order) {
      // beforeNoJit: the earlier code on connections with JIT off, as the new code sets for its pages,
      // to tell the earlier query's own cost from JIT compilation's.
      const url = version === 'beforeNoJit' ? `${dbUrl}?options=${encodeURIComponent('-c jit=off')}` : dbUrl;
      const server = await startServerChild({ dataDir, port: 18493, databaseUrl: url, env, ...(version === 'after' ? {} : { cwd: beforeDir }) });
      const tokens = await createTokenHolder(server.baseUrl, dataDir);
      const meter = await createCpuMeter(server.pid, dbUrl, undefined);
      await runExport(server.baseUrl, tokens.get(), { name: 'warm-up', path: '$export?_type=Patient' });
      for (const s of scenarios) {
        const before = await meter.snapshot();
        const nodeBefore = cpuMsOf(server.pid);
        const t = performance.now();
        const out = await runExport(server.baseUrl, tokens.get(), s);
        const seconds = (performance.now() - t) / 1000;
        const after = await meter.snapshot();
        const key = `${s.name}:${out.provenance.join(',')}`;
        if (seen[s.name] !== undefined && seen[s.name] !== key) throw new Error(`${s.name}: the Provenance exported differ between runs`);
        seen[s.name] = key;
        runs.push({ round: r, version, scenario: s.name, resources: out.resources, provenance: out.provenance.length, seconds: round(seconds), pgCpuMs: after.pgMs - before.pgMs, serverCpuMs: cpuMsOf(server.pid) - nodeBefore });
        console.log(JSON.stringify(runs[runs.length - 1]));
      }
      await meter.close();
      await server.stop();
    }
  }
  await db.end();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const summary: Record<string, Record<string, number>> = {};
  for (const version of VERSIONS) {
    for (const s of scenarios) {
      const mine = runs.filter((x) => x.version === version && x.scenario === s.name) as { pgCpuMs: number; serverCpuMs: number; seconds: number }[];
      summary[`${version}:${s.name}`] = { pgCpuMsMedian: median(mine.map((m) => m.pgCpuMs)), serverCpuMsMedian: median(mine.map((m) => m.serverCpuMs)), secondsMedian: median(mine.map((m) => m.seconds)) };
    }
  }
  const pass = (version: string, base: string) => {
    const withIt = summary[`${version}:${base}Associated`]!;
    const without = summary[`${version}:${base}`]!;
    return { pgCpuMs: withIt.pgCpuMsMedian! - without.pgCpuMsMedian!, serverCpuMs: withIt.serverCpuMsMedian! - without.serverCpuMsMedian! };
  };
  const result = {
    benchmark: 'bulk-provenance',
    date: new Date().toISOString(),
    machine: { ...machineFacts(), nproc: os.cpus().length, loadAverageStart: loadStart, loadAverageEnd: loadAverage() },
    commit: '2068c4a + worktree changes (after); 2068c4a (before, beforeNoJit)',
    setup: { database: 'external PostgreSQL', encryption: 'on (local KMS)', audit: 'on', ...env, patients, loadSeconds: round(loadSeconds), provenanceLoaded, storeCounts: Object.fromEntries(counts.map((c) => [c.resource_type, c.n])), rounds },
    provenancePass: {
      note: 'median CPU of the export with includeAssociatedData=RelevantProvenanceResources minus the same export without it',
      onePatient: Object.fromEntries(VERSIONS.map((v) => [v, pass(v, 'onePatient')])),
      system: Object.fromEntries(VERSIONS.map((v) => [v, pass(v, 'system')])),
    },
    summary,
    runs,
  };
  const file = join('bench', 'results', `bulk-provenance-${result.date.slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify({ provenancePass: result.provenancePass, summary }, null, 2));
  console.log(`written ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
