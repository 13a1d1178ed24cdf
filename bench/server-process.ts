/**
 * Runs `node bin/haven.js serve` as a child process, so its memory can be
 * read from /proc and the load generator does not share its event loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, mkdirSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fetchToken, readBootstrap } from '../src/cli/client.js';
import { round } from './stats.js';

export interface ServerSpec {
  dataDir: string;
  port: number;
  /** External PostgreSQL; embedded when absent. */
  databaseUrl?: string;
  /** Directory for `--cpu-prof` output; no profiling when absent. */
  cpuProfDir?: string;
  /** Extra environment for the server (e.g. HAVEN_ENV=test HAVEN_AUDIT=off for an A/B run). */
  env?: Record<string, string>;
  /** File the server's memory is sampled into (bench/mem-trace.ts); no sampling when absent. */
  memTrace?: string;
  /** Directory whose bin/haven.js (and dist/) is run: another build of Haven for an A/B run; the current directory when absent. */
  cwd?: string;
  /** Extra `node` options for the server process (V8 flags for an A/B run). */
  nodeArgs?: string[];
}

export interface ServerChild {
  baseUrl: string;
  pid: number;
  /** Milliseconds from spawn to the first `/healthz` 200. */
  startupMs: number;
  stop(): Promise<void>;
}

const STARTUP_LIMIT_MS = 120_000;

export async function startServerChild(spec: ServerSpec): Promise<ServerChild> {
  mkdirSync(spec.dataDir, { recursive: true });
  const log = openSync(join(spec.dataDir, 'bench-server.log'), 'a');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HAVEN_PORT: String(spec.port),
    HAVEN_HOST: '127.0.0.1',
    HAVEN_DATA_DIR: resolve(spec.dataDir),
    HAVEN_LOG_LEVEL: 'warn',
    // The MLLP listener (role mllp) on a free port unless a benchmark names one.
    HAVEN_MLLP_PORT: process.env.HAVEN_MLLP_PORT ?? '0',
    // One token lasts a whole phase; the harness still renews it between phases.
    HAVEN_ACCESS_TOKEN_TTL: '3600',
    ...spec.env,
  };
  delete env.DATABASE_URL;
  if (spec.databaseUrl) env.DATABASE_URL = spec.databaseUrl;
  const nodeArgs = [...(spec.nodeArgs ?? []), ...(spec.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${spec.cpuProfDir}`] : [])];
  if (spec.memTrace) {
    // This build's sampler, also when another build's server runs (--server-cwd A/B).
    nodeArgs.push('--import', pathToFileURL(resolve(fileURLToPath(import.meta.url), '..', 'mem-trace.js')).href);
    env.BENCH_MEM_TRACE = resolve(spec.memTrace);
  }
  const started = performance.now();
  // Own process group: a signal meant for the harness's group (Ctrl-C, a tool's job control) does not reach the server first.
  const child = spawn(process.execPath, [...nodeArgs, 'bin/haven.js', 'serve'], { env, stdio: ['ignore', log, log], detached: true, ...(spec.cwd ? { cwd: spec.cwd } : {}) });
  closeSync(log);
  child.once('exit', (code, signal) => {
    if (!stopping.has(child)) console.error(`[bench] haven serve (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}`);
  });
  const baseUrl = `http://127.0.0.1:${spec.port}`;
  await waitHealthy(baseUrl, child, started);
  const startupMs = round(performance.now() - started, 0);
  return { baseUrl, pid: child.pid!, startupMs, stop: () => stopChild(child) };
}

async function waitHealthy(baseUrl: string, child: ChildProcess, started: number): Promise<void> {
  while (performance.now() - started < STARTUP_LIMIT_MS) {
    if (child.exitCode !== null) throw new Error(`haven serve exited with ${child.exitCode} during start-up (see bench-server.log)`);
    try {
      const res = await fetch(`${baseUrl}/healthz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGTERM');
  throw new Error(`haven serve did not answer /healthz within ${STARTUP_LIMIT_MS} ms`);
}

const stopping = new WeakSet<ChildProcess>();

function stopChild(child: ChildProcess): Promise<void> {
  stopping.add(child);
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}

/** Resident memory of one process in MB (VmRSS), or NaN once it is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Samples a process's RSS every `everyMs` until stopped. */
export function sampleRss(pid: number, everyMs = 250): { stop(): { maxMb: number; meanMb: number; samples: number } } {
  const values: number[] = [];
  const timer = setInterval(() => {
    const v = rssMb(pid);
    if (!Number.isNaN(v)) values.push(v);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const sum = values.reduce((a, b) => a + b, 0);
      return { maxMb: Math.max(...values), meanMb: round(sum / Math.max(1, values.length), 1), samples: values.length };
    },
  };
}

/** Holds a bootstrap-admin token; `renew` fetches a new one between phases. */
export async function createTokenHolder(baseUrl: string, dataDir: string): Promise<{ get(): string; renew(): Promise<void> }> {
  const creds = await readBootstrap(dataDir);
  let token = (await fetchToken(baseUrl, creds, 'system/*.cruds')).token;
  return {
    get: () => token,
    async renew() {
      token = (await fetchToken(baseUrl, creds, 'system/*.cruds')).token;
    },
  };
}
