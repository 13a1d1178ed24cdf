/** Command-line and environment options of the benchmark (args win over env). */
export type Backend = 'embedded' | 'external';

export interface BenchOptions {
  backends: Backend[];
  patients: number;
  /** Seconds per load phase (read, each search at c1 and c16). */
  duration: number;
  seed: number;
  /** Patients whose ingest is timed (split over the concurrencies tried); the rest load at full speed. */
  measurePatients: number;
  ingestConcurrencies: number[];
  /** Resources copied with COPY and round-tripped through JSON in the physical-limits phase. */
  limitRows: number;
  externalUrl: string;
  dataRoot: string;
  port: number;
  cpuProf: boolean;
  /** Sample the server's memory every 50 ms (bench/mem-trace.ts) and break the read phase's RSS down. */
  memTrace: boolean;
  /** Keep the store of an earlier run with the same --patients and --seed: no wipe, no ingest. */
  reuse: boolean;
  resultsDir: string;
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

function intOf(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${raw}`);
  return n;
}

function backendsOf(raw: string): Backend[] {
  if (raw === 'both') return ['embedded', 'external'];
  if (raw === 'embedded' || raw === 'external') return [raw];
  throw new Error(`--backend must be embedded, external or both, got ${raw}`);
}

/** Flags `bench/run.ts` understands; anything else is refused before a long run starts. */
const VALUE_FLAGS = ['backend', 'patients', 'duration', 'seed', 'measure-patients', 'ingest-concurrency', 'limit-rows', 'data-root', 'port', 'results-dir'];
const SWITCH_FLAGS = ['cpu-prof', 'mem-trace', 'reuse', 'help'];

export const USAGE = `usage: node dist/bench/run.js [options]   (see bench/README.md)
  --backend embedded|external|both   default both
  --patients N             synthetic patients (~50 resources each), default 20000
  --duration S             seconds per load phase, default 20
  --measure-patients N     patients whose ingest is timed
  --ingest-concurrency L   transactions in flight to try, default 2,3,4
  --limit-rows N           resources for the COPY and JSON limits, default 200000
  --seed N                 synthesis seed, default 42
  --data-root DIR          default /tmp/haven-bench
  --port P                 server port, default 18473
  --results-dir DIR        default bench/results
  --reuse                  keep an earlier run's store (no wipe, no ingest)
  --cpu-prof               run the server under node --cpu-prof
  --mem-trace              sample the server's memory (heap, Buffers) and break the read phase's RSS down
env: BENCH_<OPTION> for each option, BENCH_DATABASE (external database name), DATABASE_URL`;

/** Throws naming the first argument that is not a known flag (or a flag's value). */
export function checkArgs(argv: string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0] ?? '' : '';
    if (VALUE_FLAGS.includes(name)) {
      if (!arg.includes('=')) i++;
      continue;
    }
    if (SWITCH_FLAGS.includes(name) && !arg.includes('=')) continue;
    throw new Error(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  checkArgs(argv);
  const get = (name: string) => argValue(argv, name) ?? env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
  const patients = intOf('patients', get('patients'), 20_000);
  return {
    backends: backendsOf(get('backend') ?? 'both'),
    patients,
    duration: intOf('duration', get('duration'), 20),
    seed: intOf('seed', get('seed'), 42),
    measurePatients: Math.min(patients, intOf('measure-patients', get('measure-patients'), Math.min(2_000, Math.ceil(patients / 2)))),
    ingestConcurrencies: (get('ingest-concurrency') ?? '2,3,4').split(',').map((c) => intOf('ingest-concurrency', c, 2)),
    limitRows: intOf('limit-rows', get('limit-rows'), 200_000),
    externalUrl: env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    dataRoot: get('data-root') ?? '/tmp/haven-bench',
    port: intOf('port', get('port'), 18_473),
    cpuProf: argv.includes('--cpu-prof') || env.BENCH_CPU_PROF === '1',
    memTrace: argv.includes('--mem-trace') || env.BENCH_MEM_TRACE_PHASES === '1',
    reuse: argv.includes('--reuse') || env.BENCH_REUSE === '1',
    resultsDir: get('results-dir') ?? 'bench/results',
  };
}

/** `--name N` from the command line: a positive number, or `fallback` when absent. */
/** A `--name value` (or `--name=value`) argument, else `fallback`; without either the bench cannot run and says which is missing. */
export function requiredArg(name: string, fallback?: string, argv: string[] = process.argv): string {
  const v = argValue(argv, name) ?? fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

export function positiveArg(name: string, fallback: number, argv: string[] = process.argv): number {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

/** A `--name value` or `--name=value` string argument, undefined when absent. */
export function stringArg(name: string, argv: string[] = process.argv): string | undefined {
  return argValue(argv, name);
}

/**
 * Server settings the harness passes through from its environment that change what a run measures
 * (test-only switches, pool and buffer sizes): recorded beside the figures, so a run with the audit log
 * off, say, is never read as the product's. An allowlist, so no secret set in the environment is written out.
 */
const RECORDED_SERVER_SETTINGS = ['HAVEN_ENV', 'HAVEN_AUDIT', 'HAVEN_ENCRYPTION', 'HAVEN_DB_POOL_SIZE', 'HAVEN_EMBEDDED_PG_SHARED_BUFFERS_MB'];

export function serverSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const recorded: Record<string, string> = {};
  for (const k of RECORDED_SERVER_SETTINGS) {
    const v = env[k];
    if (v !== undefined) recorded[k] = v;
  }
  return recorded;
}
