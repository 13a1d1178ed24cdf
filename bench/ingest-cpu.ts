/**
 * Core ingest alone, on a small fresh store: synthetic patients as
 * transaction Bundles (as `npm run bench` ingests them), reporting
 * resources/s and, per resource, the server's CPU, the CPU of the PostgreSQL
 * backends of its database and the statements it sent (bench/pg-count.ts).
 * For comparing write-path changes on a shared machine, where CPU per
 * resource is steadier than the rate. External PostgreSQL only.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/ingest-cpu.js [--patients 200] [--concurrency 3] [--cpu-prof]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { createCpuMeter, perUnit } from './cpu-meter.js';
import { createHttpClient } from './http-load.js';
import { emptyDrawn, ingestSlice } from './ingest.js';
import { createTokenHolder, startServerChild } from './server-process.js';
import { freePort } from '../test/support/server.js';
import { positiveArg } from './options.js';
import { round } from './stats.js';

const arg = (name: string, fallback: number) => positiveArg(name, fallback);

async function admin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(sql);
  await c.end();
}

async function main(): Promise<void> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('DATABASE_URL (an external PostgreSQL on this host) is required');
  const patients = arg('patients', 200);
  const concurrency = arg('concurrency', 3);
  const name = `haven_bench_ingest_${randomBytes(3).toString('hex')}`;
  await admin(adminUrl, `CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const databaseUrl = u.toString();
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-bench-ingest-'));
  const countFile = join(dataDir, 'pg-statements');
  process.env.BENCH_PG_COUNT_FILE = countFile;
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${resolve('dist/bench/pg-count.js')}`.trim();
  const cpuProfDir = process.argv.includes('--cpu-prof') ? resolve('bench/results/prof') : undefined;
  const server = await startServerChild({ dataDir, port: await freePort(), databaseUrl, ...(cpuProfDir ? { cpuProfDir } : {}) });
  const meter = await createCpuMeter(server.pid, databaseUrl, countFile);
  try {
    const tokens = await createTokenHolder(server.baseUrl, dataDir);
    const client = createHttpClient(server.baseUrl, tokens.get, 16);
    const seed = 7;
    await ingestSlice({ client, seed, startIndex: 0, patients: 20, concurrency, drawn: emptyDrawn() }); // warm-up
    const before = await meter.snapshot();
    const slice = await ingestSlice({ client, seed, startIndex: 20, patients, concurrency, drawn: emptyDrawn() });
    const cpu = perUnit(before, await meter.snapshot(), slice.resources);
    console.log(JSON.stringify({ ingest: { ...slice, bundleLatency: undefined }, perResource: cpu, loadAverage: loadavg().map((v) => round(v)) }, null, 1));
  } finally {
    await meter.close();
    await server.stop();
    await admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
