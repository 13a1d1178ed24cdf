/**
 * CPU per search, A/B: two Haven builds (e.g. the base commit and the working
 * tree) served in turn on ONE store already loaded by `bench/run.ts` (external
 * PostgreSQL), alternating A, B, B, A, A, B … so machine load falls on both
 * alike. Each turn: start the build's server, warm up, run the benchmark set
 * interleaved at concurrency 16 (bench/search-mixed.ts) and record searches/s,
 * latency, Node CPU and PostgreSQL backend CPU per search and statements per
 * search; with `--families S`, also each search family alone at c16 for S
 * seconds (PostgreSQL CPU per family; pg_stat_statements needs a preload the
 * shared server does not have, so backend CPU from /proc is used).
 *
 *   node dist/bench/search-cpu.js --data-dir /tmp/haven-search-bench/external \
 *     --database-url postgres://postgres@127.0.0.1:5432/haven_search_cpu --patients 3000 \
 *     --build base=/tmp/search-base --build new=. [--rounds 3] [--seconds 20] [--families 6] [--cpu-prof DIR]
 *     [--only name,name…] [--families-every-round]
 *
 * `--only` keeps the named searches of the set (bench/searches.ts); `--families-every-round` measures
 * each family alone in every turn (not only the first round), so per-family CPU is A/B'd turn by turn
 * (`familySummary`: medians per build and the per-round pairs).
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createCpuMeter, perUnit } from './cpu-meter.js';
import { createHttpClient, runLoad } from './http-load.js';
import { redraw } from './ingest.js';
import { machineFacts } from './machine.js';
import { requiredArg } from './options.js';
import { runMixedLoad } from './search-mixed.js';
import { searchPath, targetSearches, type SearchSpec } from './searches.js';
import { createTokenHolder, startServerChild } from './server-process.js';
import { median, round } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback?: string): string => requiredArg(name, fallback, args);
// `--build name=DIR` or `name=DIR?KEY=V&KEY2=V2` (extra server environment, e.g. HAVEN_ENV=test&HAVEN_AUDIT=off).
const builds = args.flatMap((a, i) => (a === '--build' ? [args[i + 1]!] : [])).map((b) => {
  const eq = b.indexOf('=');
  const [dir, query] = b.slice(eq + 1).split('?') as [string, string | undefined];
  return { name: b.slice(0, eq), dir: resolve(dir), env: Object.fromEntries(new URLSearchParams(query ?? '')) };
});
if (builds.length === 0) throw new Error('at least one --build name=DIR');
const dataDir = resolve(opt('data-dir'));
const databaseUrl = opt('database-url');
const patients = Number(opt('patients'));
const seed = Number(opt('seed', '42'));
const rounds = Number(opt('rounds', '3'));
const seconds = Number(opt('seconds', '20'));
const warmup = Number(opt('warmup', '4'));
const familySeconds = Number(opt('families', '0'));
const port = Number(opt('port', '18602'));
const only = args.includes('--only') ? new Set(opt('only').split(',')) : undefined;
const familiesEveryRound = args.includes('--families-every-round');
const profDir = args.includes('--cpu-prof') ? resolve(opt('cpu-prof')) : undefined;
const out = opt('out', `bench/results/search-cpu-${new Date().toISOString().slice(0, 10)}.json`);

const log = (m: string) => console.log(`[search-cpu ${new Date().toISOString().slice(11, 19)}] ${m}`);
const load = () => os.loadavg().map((v) => round(v));

interface Turn {
  build: string;
  round: number;
  loadAverageStart: number[];
  loadAverageEnd: number[];
  mixed: { perSecond: number; p50Ms: number; p95Ms: number; p99Ms: number; errors: number; firstError?: string; clientCpuCores: number };
  cpu: ReturnType<typeof perUnit> | null;
  families?: { name: string; perSecond: number; p95Ms: number; errors: number; cpu: ReturnType<typeof perUnit> | null }[];
}

async function familyLoads(client: ReturnType<typeof createHttpClient>, meter: Awaited<ReturnType<typeof createCpuMeter>>, searches: SearchSpec[]): Promise<NonNullable<Turn['families']>> {
  const outList: NonNullable<Turn['families']> = [];
  for (const s of searches) {
    const before = await meter.snapshot();
    const r = await runLoad({ client, concurrency: 16, seconds: familySeconds, maxRequests: 1_000_000, path: (i) => searchPath(s, i + 1000) });
    const after = await meter.snapshot();
    outList.push({ name: s.name, perSecond: r.perSecond, p95Ms: r.latency.p95Ms, errors: r.errors, cpu: perUnit(before, after, Math.max(1, r.requests)) });
  }
  return outList;
}

async function turn(build: (typeof builds)[number], roundNo: number, searches: SearchSpec[], withFamilies: boolean): Promise<Turn> {
  const countFile = join(dataDir, `pg-count-${build.name}.txt`);
  const server = await startServerChild({
    dataDir,
    port,
    databaseUrl,
    cwd: build.dir,
    ...(profDir ? { cpuProfDir: join(profDir, build.name) } : {}),
    env: { ...build.env, NODE_OPTIONS: `--import ${join(build.dir, 'dist/bench/pg-count.js')}`, BENCH_PG_COUNT_FILE: countFile },
  });
  const tokens = await createTokenHolder(server.baseUrl, dataDir);
  const client = createHttpClient(server.baseUrl, tokens.get, 16);
  const meter = await createCpuMeter(server.pid, databaseUrl, countFile);
  const loadAverageStart = load();
  try {
    // Warm-up: JIT, pools, keys, PostgreSQL caches; a different slice of values from the measured run.
    await runLoad({ client, concurrency: 16, seconds: warmup, maxRequests: 1_000_000, path: (i) => searchPath(searches[i % searches.length]!, 5000 + Math.floor(i / searches.length)) });
    const mix = await runMixedLoad(client, searches, seconds, meter);
    const families = withFamilies ? await familyLoads(client, meter, searches) : undefined;
    const t: Turn = {
      build: build.name,
      round: roundNo,
      loadAverageStart,
      loadAverageEnd: load(),
      mixed: {
        perSecond: mix.perSecond,
        p50Ms: mix.latency.p50Ms,
        p95Ms: mix.latency.p95Ms,
        p99Ms: mix.latency.p99Ms,
        errors: mix.errors,
        ...(mix.firstError ? { firstError: mix.firstError } : {}),
        clientCpuCores: mix.clientCpuCores,
      },
      cpu: mix.cpu,
      ...(families ? { families } : {}),
    };
    log(`${build.name} round ${roundNo}: ${mix.perSecond}/s p95 ${mix.latency.p95Ms} ms, CPU/search node ${mix.cpu?.nodeCpuMsPerUnit} pg ${mix.cpu?.pgCpuMsPerUnit} ms, ${mix.cpu?.statementsPerUnit} statements (${mix.errors} errors), load ${loadAverageStart[0]}→${t.loadAverageEnd[0]}`);
    return t;
  } finally {
    await meter.close();
    client.close();
    await server.stop();
  }
}

function mean(values: number[]): number {
  return round(values.reduce((a, b) => a + b, 0) / Math.max(1, values.length));
}


/** Per family: each build's median CPU per search over the turns that measured it, and the per-round figures side by side. */
function familySummary(turns: Turn[], searches: SearchSpec[]) {
  return searches.map((s) => {
    const perBuild = builds.map((b) => {
      const mine = turns.filter((t) => t.build === b.name && t.families).map((t) => ({ round: t.round, f: t.families!.find((f) => f.name === s.name) }));
      const total = mine.map((m) => (m.f?.cpu ? m.f.cpu.nodeCpuMsPerUnit + m.f.cpu.pgCpuMsPerUnit : Number.NaN));
      return {
        build: b.name,
        turns: mine.length,
        cpuMsPerSearchMedian: median(total),
        nodeCpuMsPerSearchMedian: median(mine.map((m) => m.f?.cpu?.nodeCpuMsPerUnit ?? Number.NaN)),
        pgCpuMsPerSearchMedian: median(mine.map((m) => m.f?.cpu?.pgCpuMsPerUnit ?? Number.NaN)),
        statementsPerSearchMedian: median(mine.map((m) => m.f?.cpu?.statementsPerUnit ?? Number.NaN)),
        perSecondMedian: median(mine.map((m) => m.f?.perSecond ?? Number.NaN)),
        perRound: mine.map((m, i) => ({ round: m.round, cpuMsPerSearch: round(total[i]!), node: m.f?.cpu?.nodeCpuMsPerUnit, pg: m.f?.cpu?.pgCpuMsPerUnit })),
      };
    });
    return { name: s.name, builds: perBuild };
  });
}

async function main(): Promise<void> {
  const searches = targetSearches(redraw(seed, patients)).filter((s) => !only || only.has(s.name));
  if (searches.length === 0) throw new Error('--only names no search of the set');
  const loadStart = load();
  const turns: Turn[] = [];
  for (let r = 1; r <= rounds; r++) {
    // A B, B A, A B …: neither build always runs first (warmer caches, a neighbour's burst).
    const order = r % 2 === 1 ? builds : [...builds].reverse();
    for (const b of order) turns.push(await turn(b, r, searches, familySeconds > 0 && (r === 1 || familiesEveryRound)));
  }
  const summary = builds.map((b) => {
    const mine = turns.filter((t) => t.build === b.name);
    const node = mean(mine.map((t) => t.cpu?.nodeCpuMsPerUnit ?? Number.NaN));
    const pgMs = mean(mine.map((t) => t.cpu?.pgCpuMsPerUnit ?? Number.NaN));
    return {
      build: b.name,
      dir: b.dir,
      env: b.env,
      rounds: mine.length,
      perSecondMean: mean(mine.map((t) => t.mixed.perSecond)),
      p95MsMean: mean(mine.map((t) => t.mixed.p95Ms)),
      cpuMsPerSearchMedian: round(median(mine.map((t) => t.cpu?.nodeCpuMsPerUnit ?? Number.NaN)) + median(mine.map((t) => t.cpu?.pgCpuMsPerUnit ?? Number.NaN))),
      nodeCpuMsPerSearch: node,
      pgCpuMsPerSearch: pgMs,
      cpuMsPerSearch: round(node + pgMs),
      statementsPerSearch: mean(mine.map((t) => t.cpu?.statementsPerUnit ?? Number.NaN)),
      // On 2 cores with the load generator elsewhere, the rate CPU alone allows.
      cpuCeilingPerSecond2Cores: round(2000 / (node + pgMs), 0),
    };
  });
  const result = {
    benchmark: 'search-cpu',
    date: new Date().toISOString(),
    machine: { ...machineFacts(), nproc: os.cpus().length, loadAverageStart: loadStart, loadAverageEnd: load() },
    store: { patients, seed, databaseUrl: databaseUrl.replace(/\/\/[^@]*@/, '//'), dataDir },
    searches: searches.map((s) => ({ name: s.name, example: searchPath(s, 0) })),
    seconds,
    warmupSeconds: warmup,
    summary,
    ...(familySeconds > 0 ? { familySummary: familySummary(turns, searches) } : {}),
    turns,
  };
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  if (familySeconds > 0) {
    for (const f of familySummary(turns, searches)) log(`${f.name}: ${f.builds.map((b) => `${b.build} ${b.cpuMsPerSearchMedian} ms (${b.statementsPerSearchMedian} st)`).join(', ')}`);
  }
  for (const s of summary) log(`${s.build}: ${s.perSecondMean}/s, ${s.cpuMsPerSearch} ms CPU/search (node ${s.nodeCpuMsPerSearch}, pg ${s.pgCpuMsPerSearch}), ceiling ${s.cpuCeilingPerSecond2Cores}/s on 2 cores`);
  log(`wrote ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
