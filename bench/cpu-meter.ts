/**
 * CPU time of the benchmarked processes, from /proc (Linux): the Haven server
 * and the PostgreSQL backends serving its database. On a shared 2-core machine
 * wall-clock rates move with the neighbours' load; CPU per unit of work does not
 * (much), so the benches report both.
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of one process in ms, 0 when it is gone. */
export function cpuMsOf(pid: number): number {
  const { user, sys } = cpuSplitOf(pid);
  return user + sys;
}

/**
 * utime and stime of one process in ms (zeros when it is gone): kernel time shows syscalls and wake-ups.
 * `thread`: of that one thread only (the main thread when it is the pid), not of all the process's threads
 * (V8's background GC and compiler threads, libuv's pool).
 */
export function cpuSplitOf(pid: number, thread?: number): { user: number; sys: number } {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) * TICK_MS, sys: Number(fields[12]) * TICK_MS };
  } catch {
    return { user: 0, sys: 0 };
  }
}

/** Fields of /proc/<pid>/stat after the command name (index 1 is the parent pid), or undefined when it is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * CPU in ms of a whole PostgreSQL cluster: its postmaster, with the CPU of every child it has reaped
 * (cutime + cstime), and its live children. Unlike the per-backend sum it counts backends that started
 * and exited between two snapshots (a maintenance connection closed after its vacuum); it also counts
 * the cluster's other databases and its background processes.
 */
export function clusterCpuMsOf(postmaster: number): number {
  const own = statFields(postmaster);
  if (!own) return Number.NaN;
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f && Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks * TICK_MS;
}

/** The whole machine's CPU ticks from /proc/stat (all cores): busy (everything but idle and iowait) and total. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = fields.reduce((a, b) => a + b, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: Number.NaN, total: Number.NaN };
  }
}

/**
 * The share of the machine's CPU time in use between two readings: under 1 at
 * a fixed concurrency, the rate was bound by waits (commits, locks, I/O), not
 * by the cores.
 */
export function busyShare(before: { busy: number; total: number }, after: { busy: number; total: number }): number {
  return Math.round(((after.busy - before.busy) / (after.total - before.total)) * 1000) / 1000;
}

export interface CpuSnapshot {
  nodeMs: number;
  /** Of nodeMs, the part spent in the kernel (stime). */
  nodeSysMs?: number;
  /** Of nodeMs, the main (JavaScript) thread's; the rest is V8's and libuv's own threads. */
  nodeMainMs?: number;
  pgMs: number;
  /** The whole cluster's CPU (clusterCpuMsOf), when the meter found its postmaster. */
  clusterMs?: number;
  statements: number;
}

export interface CpuMeter {
  snapshot(): Promise<CpuSnapshot>;
  close(): Promise<void>;
}

/**
 * `database`: the PostgreSQL database Haven uses (external PostgreSQL on this
 * host); its backends are found through pg_stat_activity. `countFile`: where
 * bench/pg-count.ts writes the server's statement count.
 */
export async function createCpuMeter(serverPid: number, databaseUrl: string | undefined, countFile: string | undefined): Promise<CpuMeter> {
  let client: pg.Client | undefined;
  if (databaseUrl) {
    client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
  }
  const database = databaseUrl ? new URL(databaseUrl).pathname.slice(1) : undefined;
  // PostgreSQL CPU is accumulated per backend since the meter's first snapshot: a backend that exits
  // between two snapshots (a pool reaping idle connections) would otherwise take all its earlier CPU
  // out of the sum and make the difference negative. A backend first seen after the first snapshot
  // started since the previous one: all its CPU counts.
  const seen = new Map<number, number>();
  let pgTotal = 0;
  let first = true;
  let postmaster: number | undefined;
  return {
    async snapshot() {
      if (client) {
        const res = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
        const live = new Map(res.rows.map((r) => [r.pid, cpuMsOf(r.pid)]));
        for (const [pid, ms] of live) {
          const previous = seen.get(pid);
          if (previous !== undefined) pgTotal += ms - previous;
          else if (!first) pgTotal += ms;
        }
        seen.clear();
        for (const [pid, ms] of live) seen.set(pid, ms);
        for (const pid of live.keys()) postmaster ??= Number(statFields(pid)?.[1]) || undefined;
        first = false;
      }
      const pgMs = pgTotal;
      let statements = Number.NaN;
      if (countFile) {
        process.kill(serverPid, 'SIGUSR2'); // bench/pg-count.ts writes its count
        await new Promise((r) => setTimeout(r, 150));
        try {
          statements = Number(readFileSync(countFile, 'utf8'));
        } catch {
          // not written yet
        }
      }
      const node = cpuSplitOf(serverPid);
      const main = cpuSplitOf(serverPid, serverPid);
      const clusterMs = postmaster === undefined ? undefined : clusterCpuMsOf(postmaster);
      return { nodeMs: node.user + node.sys, nodeSysMs: node.sys, nodeMainMs: main.user + main.sys, pgMs, ...(clusterMs === undefined ? {} : { clusterMs }), statements };
    },
    async close() {
      await client?.end();
    },
  };
}

/** Per-unit figures between two snapshots. Backends that exit in between undercount PostgreSQL (their CPU since the previous snapshot is lost). */
export function perUnit(before: CpuSnapshot, after: CpuSnapshot, units: number) {
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return {
    units,
    nodeCpuMsPerUnit: r((after.nodeMs - before.nodeMs) / units),
    nodeMainThreadCpuMsPerUnit: r(((after.nodeMainMs ?? Number.NaN) - (before.nodeMainMs ?? Number.NaN)) / units),
    nodeSysCpuMsPerUnit: r(((after.nodeSysMs ?? Number.NaN) - (before.nodeSysMs ?? Number.NaN)) / units),
    pgCpuMsPerUnit: r((after.pgMs - before.pgMs) / units),
    /** The whole PostgreSQL cluster, short-lived backends included (CpuSnapshot.clusterMs); NaN without it. */
    pgClusterCpuMsPerUnit: r(((after.clusterMs ?? Number.NaN) - (before.clusterMs ?? Number.NaN)) / units),
    statementsPerUnit: r((after.statements - before.statements) / units),
  };
}
