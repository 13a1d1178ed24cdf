/**
 * Haven benchmark: ingest, read, search, physical limits and start-up on the
 * embedded and/or external PostgreSQL. See bench/README.md.
 *   npm run bench -- --backend embedded --patients 500 --duration 10
 * Writes bench/results/<backend>-<date>.json; exits non-zero when a search
 * plan scans `resource` or an `idx_*` table sequentially, or a phase failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineFacts } from './machine.js';
import { parseOptions, serverSettings, USAGE, type BenchOptions } from './options.js';
import { runBackend, type BackendRun } from './phases.js';
import { round } from './stats.js';
import { atLeast, atMost, TARGETS, type Verdict } from './targets.js';

function verdicts(run: BackendRun, other?: BackendRun): Record<string, Verdict> {
  const v: Record<string, Verdict> = {
    ingestResourcesPerSecond: atLeast(TARGETS.ingestResourcesPerSecond, run.ingest?.best.resourcesPerSecond, 'resources/s'),
    readPerSecond: atLeast(TARGETS.readPerSecond, run.read?.perSecond, 'req/s'),
    readP99Ms: atMost(TARGETS.readP99Ms, run.read?.latency.p99Ms, 'ms'),
    serverRssMb: atMost(TARGETS.serverRssMb, run.read?.rss.maxMb, 'MB (haven node process, max during reads)'),
    startupExistingMs: atMost(TARGETS.startupExistingMs, run.startup.existingMs, 'ms'),
    startupFreshMs: atMost(TARGETS.startupFreshMs, run.startup.freshMs, 'ms'),
  };
  for (const s of run.searches ?? []) {
    v[`search ${s.name} p99Ms`] = atMost(TARGETS.searchP99Ms, s.c1.latency.p99Ms, 'ms (c1)');
    v[`search ${s.name} c16PerSecond`] = atLeast(TARGETS.searchC16PerSecond, s.c16.perSecond, 'searches/s');
  }
  v.searchSetMixedC16PerSecond = atLeast(TARGETS.searchSetC16PerSecond, run.searchMix?.perSecond, 'searches/s (the set interleaved, c16)');
  v.pagingRssGrowthMb = atMost(TARGETS.pagingRssGrowthMb, run.paging?.rss.growthMb, 'MB (server RSS across 10,000 paged searches)');
  if (run.backend === 'embedded' && other?.read && run.read && other.ingest && run.ingest) {
    const worst = Math.max(
      100 * (1 - run.read.perSecond / other.read.perSecond),
      100 * (1 - run.ingest.best.resourcesPerSecond / other.ingest.best.resourcesPerSecond),
    );
    v.embeddedShortfallVsExternalPercent = atMost(TARGETS.embeddedVsExternalPercent, round(worst, 1), '% (worst of ingest and read)');
  }
  return v;
}

function ratios(run: BackendRun): Record<string, number | null> {
  const copy = run.limits?.copy.rowsPerSecond;
  const json = run.limits?.jsonRoundTrip.resourcesPerSecond;
  return {
    ingestOverCopy: copy && run.ingest ? round(run.ingest.best.resourcesPerSecond / copy, 3) : null,
    readOverJsonRoundTrip: json && run.read ? round(run.read.perSecond / json, 3) : null,
  };
}

function writeResult(opts: BenchOptions, settings: Record<string, string>, run: BackendRun, other: BackendRun | undefined, started: Date): string {
  mkdirSync(opts.resultsDir, { recursive: true });
  const stamp = started.toISOString().slice(0, 19).replace(/:/g, '-');
  const file = join(opts.resultsDir, `${run.backend}-${stamp}.json`);
  const { plans, ...rest } = run;
  const summaryPlans = plans?.map(({ plan: _plan, ...p }) => p);
  const body = { startedAt: started.toISOString(), machine: machineFacts(), options: opts, serverSettings: settings, targets: verdicts(run, other), ratios: ratios(run), ...rest, plans: summaryPlans };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  if (plans) writeFileSync(file.replace(/\.json$/, '-plans.json'), `${JSON.stringify(plans, null, 2)}\n`);
  return file;
}

async function main(): Promise<number> {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  const opts = parseOptions(process.argv.slice(2), process.env);
  const settings = serverSettings(process.env);
  if (Object.keys(settings).length > 0) console.log(`[bench] server settings from the environment: ${JSON.stringify(settings)}`);
  const started = new Date();
  const runs: BackendRun[] = [];
  for (const backend of opts.backends) runs.push(await runBackend(backend, opts));
  let failed = false;
  for (const run of runs) {
    const other = runs.find((r) => r !== run);
    const file = writeResult(opts, settings, run, other, started);
    console.log(`\n${run.backend}: results in ${file}`);
    for (const [name, v] of Object.entries(verdicts(run, other))) {
      console.log(`  ${v.pass === null ? '  ?' : v.pass ? 'ok ' : 'MISS'} ${name}: ${v.measured ?? 'n/a'} ${v.unit} (target ${v.target})`);
    }
    for (const e of run.errors) console.error(`  FAIL ${run.backend}: ${e}`);
    if (run.errors.length > 0 || (run.ingest?.errors ?? 0) > 0) failed = true;
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  },
);
