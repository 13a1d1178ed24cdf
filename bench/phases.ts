/** One backend end to end: fresh start, ingest, reads, searches, plans, physical limits, restart. */
import os from 'node:os';
import { join, resolve } from 'node:path';
import type pg from 'pg';
import { connectDirect, freshBackend, storeFacts, type StoreFacts } from './backend.js';
import { createHttpClient, runLoad, type LoadResult } from './http-load.js';
import { emptyDrawn, redraw, runIngest, type DrawnValues, type IngestResult } from './ingest.js';
import { runLimits, type LimitsResult } from './limits.js';
import type { Backend, BenchOptions } from './options.js';
import { createQueryBlinder } from './blind-tags.js';
import { busyShare, createCpuMeter, machineTicks, perUnit } from './cpu-meter.js';
import { runMixedLoad, runPaging, type MixedLoad, type PagingResult } from './search-mixed.js';
import { explainSearches, pagingFirstPage, runSearchLoads, targetSearches, type PlanCheck, type SearchLoad } from './searches.js';
import { memoryBreakdown } from './mem-breakdown.js';
import { createTokenHolder, rssMb, sampleRss, startServerChild, type ServerChild } from './server-process.js';

export interface BackendRun {
  backend: Backend;
  /** freshMs is absent with --reuse (the first start is then on an existing store too). */
  startup: { freshMs?: number; existingMs?: number };
  store?: StoreFacts;
  ingest?: IngestResult;
  read?: LoadResult & {
    rss: { maxMb: number; meanMb: number; samples: number; memory?: ReturnType<typeof memoryBreakdown> };
    /**
     * CPU per read: the server and its PostgreSQL backends (cpu-meter.ts), and the share of the
     * machine's CPU in use (`machineBusy`), to tell where a slow read rate goes.
     */
    cpu?: ReturnType<typeof perUnit> & { machineBusy: number };
  };
  rssIdleMb?: number;
  searches?: SearchLoad[];
  /** The whole search set interleaved at concurrency 16 (search-mixed.ts). */
  searchMix?: MixedLoad;
  /** 10,000 pages followed through `next` links, with server RSS (search-mixed.ts). */
  paging?: PagingResult;
  plans?: PlanCheck[];
  /** What ran after the ingest so the planner sees the loaded data (see `settle`). */
  maintenance?: { statement: string; seconds: number };
  limits?: LimitsResult;
  /** 1-minute load average at phase boundaries: other work on the machine skews every figure. */
  loadAverage: Record<string, number>;
  errors: string[];
}

function noteLoad(run: BackendRun, at: string): void {
  run.loadAverage[at] = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
}

const log = (m: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);

function startSpec(opts: BenchOptions, dataDir: string, databaseUrl: string | undefined) {
  return {
    dataDir,
    port: opts.port,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(opts.cpuProf ? { cpuProfDir: resolve(join(opts.resultsDir, 'prof')) } : {}),
    ...(opts.memTrace ? { memTrace: memTraceFile(dataDir) } : {}),
  };
}

const memTraceFile = (dataDir: string) => join(dataDir, 'mem-trace.jsonl');

type ReadResult = NonNullable<BackendRun['read']>;

async function readPhase(server: ServerChild, client: ReturnType<typeof createHttpClient>, drawn: DrawnValues, seconds: number, directUrl: string, memTrace?: string): Promise<ReadResult> {
  const ids = [...drawn.patientIds.map((id) => `/fhir/Patient/${id}`), ...drawn.observationIds.map((id) => `/fhir/Observation/${id}`)];
  const meter = await createCpuMeter(server.pid, directUrl, undefined);
  try {
    const rss = sampleRss(server.pid);
    const startedAt = Date.now();
    const before = await meter.snapshot();
    const ticks = machineTicks();
    const load = await runLoad({ client, concurrency: 16, seconds, maxRequests: 5_000_000, path: () => ids[Math.floor(Math.random() * ids.length)]! });
    const cpu = { ...perUnit(before, await meter.snapshot(), load.requests), machineBusy: busyShare(ticks, machineTicks()) };
    const memory = memTrace ? memoryBreakdown(memTrace, startedAt, Date.now()) : undefined;
    return { ...load, cpu, rss: { ...rss.stop(), ...(memory ? { memory } : {}) } };
  } finally {
    await meter.close();
  }
}

/** The set mixed at c16, then paging with RSS: issue 6's throughput and memory figures. */
async function setPhases(run: BackendRun, server: ServerChild, client: ReturnType<typeof createHttpClient>, drawn: DrawnValues, opts: BenchOptions, directUrl: string): Promise<void> {
  const meter = await createCpuMeter(server.pid, directUrl, undefined);
  try {
    const mix = await runMixedLoad(client, targetSearches(drawn), opts.duration, meter);
    run.searchMix = mix;
    log(`search set mixed at c16: ${mix.perSecond}/s p50 ${mix.latency.p50Ms} ms p99 ${mix.latency.p99Ms} ms, CPU/search node ${mix.cpu?.nodeCpuMsPerUnit} ms pg ${mix.cpu?.pgCpuMsPerUnit} ms, machine busy ${mix.cpu?.machineBusy} (${mix.errors} errors)`);
  } finally {
    await meter.close();
  }
  noteLoad(run, 'afterSearchMix');
  const paging = await runPaging({ client, first: pagingFirstPage(drawn), pages: 10_000, warmupPages: 500, concurrency: 4, maxPagesPerSearch: 20, serverPid: server.pid });
  run.paging = paging;
  log(`paging: ${paging.pages} pages of ${paging.searches} searches, RSS ${paging.rss.afterWarmupMb} → ${paging.rss.endMb} MB (max ${paging.rss.maxMb}), ${paging.errors} errors`);
  noteLoad(run, 'afterPaging');
}

/**
 * Statistics and visibility map as a running store has them: without fresh statistics the planner
 * estimates the just-loaded tables from their empty state, and without a vacuum no index-only scan
 * skips the heap. Autovacuum does both in production, but the shared test server runs with
 * autovacuum off, where the plans measured were ones no deployment would run.
 */
async function settle(db: pg.Client): Promise<{ statement: string; seconds: number }> {
  const auto = (await db.query<{ autovacuum: string }>('SHOW autovacuum')).rows[0]?.autovacuum;
  const statement = auto === 'on' ? 'ANALYZE' : 'VACUUM (ANALYZE)';
  const t0 = performance.now();
  await db.query(statement);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  log(`${statement} after the ingest (autovacuum ${auto}): ${seconds} s`);
  return { statement, seconds };
}

async function loadedPhases(run: BackendRun, server: ServerChild, db: pg.Client, opts: BenchOptions, dataDir: string, directUrl: string): Promise<void> {
  const tokens = await createTokenHolder(server.baseUrl, dataDir);
  const client = createHttpClient(server.baseUrl, tokens.get, 16);
  try {
    run.rssIdleMb = rssMb(server.pid);
    const drawn = opts.reuse ? redraw(opts.seed, opts.patients) : emptyDrawn();
    if (!opts.reuse) {
      log(`${run.backend}: ingest of ${opts.patients} patients`);
      run.ingest = await runIngest(client, { seed: opts.seed, patients: opts.patients, measurePatients: opts.measurePatients, concurrencies: opts.ingestConcurrencies, log }, drawn);
    }
    noteLoad(run, 'afterIngest');
    if (!opts.reuse) run.maintenance = await settle(db);
    run.store = await storeFacts(db);
    log(`${run.backend}: store holds ${run.store.totalResources} resources, ${run.store.databaseSizeMb} MB`);
    await tokens.renew();
    const read = await readPhase(server, client, drawn, opts.duration, directUrl, opts.memTrace ? memTraceFile(dataDir) : undefined);
    run.read = read;
    log(`${run.backend}: read ${read.perSecond}/s p50 ${read.latency.p50Ms} ms p99 ${read.latency.p99Ms} ms, CPU/read node ${read.cpu?.nodeCpuMsPerUnit} ms pg ${read.cpu?.pgCpuMsPerUnit} ms, machine busy ${read.cpu?.machineBusy}, RSS max ${read.rss.maxMb} MB, ${read.errors} errors`);
    noteLoad(run, 'afterRead');
    const searches = targetSearches(drawn);
    await tokens.renew();
    run.searches = await runSearchLoads(client, searches, opts.duration, log);
    noteLoad(run, 'afterSearches');
    await tokens.renew();
    await setPhases(run, server, client, drawn, opts, directUrl);
    const blinder = await createQueryBlinder(dataDir, directUrl);
    try {
      run.plans = await explainSearches(db, searches, 3, blinder);
    } finally {
      await blinder.close();
    }
    for (const p of run.plans) if (p.seqScans.length > 0) run.errors.push(`Seq Scan on ${p.seqScans.join(', ')} in ${p.search}`);
    log(`${run.backend}: physical limits on ${opts.limitRows} resources`);
    run.limits = await runLimits(db, opts.seed, opts.limitRows);
    log(`${run.backend}: COPY ${run.limits.copy.rowsPerSecond} rows/s, JSON round trip ${run.limits.jsonRoundTrip.resourcesPerSecond} res/s`);
  } finally {
    client.close();
  }
}

export async function runBackend(backend: Backend, opts: BenchOptions): Promise<BackendRun> {
  const setup = await freshBackend(backend, opts);
  log(`${backend}: starting on ${opts.reuse ? 'the existing store' : `a fresh ${backend === 'embedded' ? 'data dir' : 'database'}`}`);
  let server = await startServerChild(startSpec(opts, setup.dataDir, setup.serverDatabaseUrl));
  const run: BackendRun = { backend, startup: opts.reuse ? {} : { freshMs: server.startupMs }, loadAverage: {}, errors: [] };
  noteLoad(run, 'start');
  log(`${backend}: healthy after ${server.startupMs} ms`);
  const db = await connectDirect(setup);
  try {
    await loadedPhases(run, server, db, opts, setup.dataDir, setup.directUrl);
  } catch (err) {
    run.errors.push(`aborted: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await db.end().catch(() => undefined);
    await server.stop();
  }
  server = await startServerChild(startSpec(opts, setup.dataDir, setup.serverDatabaseUrl));
  run.startup.existingMs = server.startupMs;
  log(`${backend}: restart on the existing store healthy after ${server.startupMs} ms`);
  await server.stop();
  return run;
}
