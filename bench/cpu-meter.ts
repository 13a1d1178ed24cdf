/**
 * CPU time of the benchmarked processes, from /proc (Linux): the Haven server
 * and the PostgreSQL backends serving its database. On a shared 2-core machine
 * wall-clock rates move with the neighbours' load; CPU per unit of work does not
 * (much), so the benches report both.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** utime + stime of one process in ms, 0 when it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

export interface CpuSnapshot {
  nodeMs: number;
  pgMs: number;
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
  return {
    async snapshot() {
      let pgMs = 0;
      if (client) {
        const res = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
        for (const r of res.rows) pgMs += cpuMsOf(r.pid);
      }
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
      return { nodeMs: cpuMsOf(serverPid), pgMs, statements };
    },
    async close() {
      await client?.end();
    },
  };
}

/** Per-unit figures between two snapshots. Backends that exit in between undercount PostgreSQL. */
export function perUnit(before: CpuSnapshot, after: CpuSnapshot, units: number) {
  const r = (v: number) => Math.round(v * 100) / 100;
  return {
    units,
    nodeCpuMsPerUnit: r((after.nodeMs - before.nodeMs) / units),
    pgCpuMsPerUnit: r((after.pgMs - before.pgMs) / units),
    statementsPerUnit: r((after.statements - before.statements) / units),
  };
}
