/**
 * One measurement of the write and read paths on a fresh external database:
 * ingest of synthetic transaction Bundles, then reads by id at concurrency
 * 16, each with the server's CPU, its PostgreSQL backends' CPU and the
 * statements sent per unit (bench/cpu-meter.ts, bench/pg-count.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { adminQuery, databaseUrl } from './pg-admin.js';
import { createCpuMeter, perUnit } from './cpu-meter.js';
import { createHttpClient, runLoad } from './http-load.js';
import { emptyDrawn, ingestSlice, type DrawnValues } from './ingest.js';
import { createTokenHolder, startServerChild } from './server-process.js';
import { freePort } from '../test/support/server.js';
import { round } from './stats.js';

export interface PathCpuSpec {
  /** An external PostgreSQL server; a fresh database is created and dropped on it. */
  adminUrl: string;
  patients: number;
  concurrency: number;
  reads: number;
  /** Concurrent readers (default 16). */
  readConcurrency?: number;
  /** Extra server environment (the configuration under test). */
  env?: Record<string, string>;
  cpuProfDir?: string;
  /** Count statements by shape (BENCH_PG_SHAPES=1) and return those of the reads per read (`readShapes`). */
  shapes?: boolean;
  /** Another build of Haven to run (its bin/haven.js and dist/), for an A/B run; this checkout when absent. */
  cwd?: string;
  /**
   * Awaited just before the timed ingest and again before the timed reads: a
   * barrier shared with a measurement running at the same time (overhead-ab
   * --paired), so both time the same stretch of the machine's weather.
   */
  sync?: (phase: 'ingest' | 'reads') => Promise<void>;
  /** Reads for this many seconds instead of `reads` requests (paired runs end their windows together). */
  readSeconds?: number;
}

/** Group-commit batches written during the reads: how many entries each carried (from audit_batch, so any build can be measured). */
async function readBatches(dbUrl: string, afterBatchId: number) {
  const rows = await rowsOf<{ n: number; batches: number }>(
    dbUrl,
    `SELECT cardinality(leaf_hashes) AS n, count(*)::int AS batches FROM audit_batch WHERE batch_id > ${afterBatchId} GROUP BY 1 ORDER BY 1`,
  );
  const batches = rows.reduce((a, r) => a + r.batches, 0);
  const entries = rows.reduce((a, r) => a + r.n * r.batches, 0);
  return { batches, entries, meanEntries: batches ? round(entries / batches, 2) : 0, sizes: Object.fromEntries(rows.map((r) => [r.n, r.batches])) };
}

async function lastBatchId(dbUrl: string): Promise<number> {
  const rows = await rowsOf<{ id: string }>(dbUrl, 'SELECT coalesce(max(batch_id), 0)::bigint AS id FROM audit_batch');
  return Number(rows[0]?.id ?? 0);
}

/** Rows of one query; none when it fails (a database without the audit tables). */
async function rowsOf<T extends object>(dbUrl: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: dbUrl });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } catch {
    return [];
  } finally {
    await c.end();
  }
}

/** Statement counts by shape, as bench/pg-count.ts last wrote them (on the meter's SIGUSR2). */
function shapesOf(countFile: string): Map<string, number> {
  try {
    return new Map(JSON.parse(readFileSync(`${countFile}.shapes.json`, 'utf8')) as [string, number][]);
  } catch {
    return new Map();
  }
}

/** Statements per unit by shape between two counts, most frequent first. */
function shapeDelta(before: Map<string, number>, after: Map<string, number>, units: number): Record<string, number> {
  const out: [string, number][] = [];
  for (const [shape, n] of after) {
    const d = n - (before.get(shape) ?? 0);
    if (d > 0) out.push([shape, round(d / Math.max(1, units), 4)]);
  }
  return Object.fromEntries(out.sort((a, b) => b[1] - a[1]));
}

function readPaths(drawn: DrawnValues): string[] {
  return [...drawn.patientIds.map((id) => `/fhir/Patient/${id}`), ...drawn.observationIds.map((id) => `/fhir/Observation/${id}`)];
}

export async function measurePathCpu(spec: PathCpuSpec) {
  const name = `haven_bench_path_${randomBytes(3).toString('hex')}`;
  await adminQuery(spec.adminUrl, `CREATE DATABASE ${name}`);
  const dbUrl = databaseUrl(spec.adminUrl, name);
  const dataDir = mkdtempSync(join(tmpdir(), 'haven-bench-path-'));
  const countFile = join(dataDir, 'pg-statements');
  const env = {
    ...spec.env,
    BENCH_PG_COUNT_FILE: countFile,
    ...(spec.shapes ? { BENCH_PG_SHAPES: '1' } : {}),
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${resolve('dist/bench/pg-count.js')}`.trim(),
  };
  // Whatever fails from here on (the server's start included), the database and data dir are dropped.
  let server: Awaited<ReturnType<typeof startServerChild>> | undefined;
  let meter: Awaited<ReturnType<typeof createCpuMeter>> | undefined;
  try {
    server = await startServerChild({ dataDir, port: await freePort(), databaseUrl: dbUrl, env, ...(spec.cpuProfDir ? { cpuProfDir: spec.cpuProfDir } : {}), ...(spec.cwd ? { cwd: spec.cwd } : {}) });
    meter = await createCpuMeter(server.pid, dbUrl, countFile);
    const tokens = await createTokenHolder(server.baseUrl, dataDir);
    const client = createHttpClient(server.baseUrl, tokens.get, Math.max(16, spec.readConcurrency ?? 16));
    const seed = 7;
    await ingestSlice({ client, seed, startIndex: 0, patients: 20, concurrency: spec.concurrency, drawn: emptyDrawn() }); // warm-up
    const drawn = emptyDrawn();
    await spec.sync?.('ingest');
    const beforeIngest = await meter.snapshot();
    const ingest = await ingestSlice({ client, seed, startIndex: 20, patients: spec.patients, concurrency: spec.concurrency, drawn });
    const perResource = perUnit(beforeIngest, await meter.snapshot(), ingest.resources);
    const paths = readPaths(drawn);
    const batchMark = await lastBatchId(dbUrl);
    await spec.sync?.('reads');
    const beforeReads = await meter.snapshot();
    // Monotonic clock in µs, the clock a --cpu-prof profile's sample times use: profile-phases --window.
    const shapesBefore = spec.shapes ? shapesOf(countFile) : undefined;
    const readFromUs = Number(process.hrtime.bigint() / 1000n);
    const read = await runLoad({
      client,
      concurrency: spec.readConcurrency ?? 16,
      ...(spec.readSeconds ? { seconds: spec.readSeconds, maxRequests: Number.POSITIVE_INFINITY } : { seconds: 120, maxRequests: spec.reads }),
      path: (i) => paths[(i * 7919) % paths.length]!,
    });
    const readToUs = Number(process.hrtime.bigint() / 1000n);
    const perRead = perUnit(beforeReads, await meter.snapshot(), read.requests);
    const readShapes = shapesBefore ? shapeDelta(shapesBefore, shapesOf(countFile), read.requests) : undefined;
    const readAuditBatches = await readBatches(dbUrl, batchMark);
    client.close();
    return {
      ingest: { ...ingest, bundleLatency: undefined },
      perResource,
      read: { ...read, latency: { p50Ms: read.latency.p50Ms, p99Ms: read.latency.p99Ms } },
      perRead,
      readAuditBatches,
      ...(readShapes ? { readShapes } : {}),
      readWindowUs: { from: readFromUs, to: readToUs },
      loadAverage: loadavg().map((v) => round(v)),
    };
  } finally {
    await meter?.close();
    await server?.stop();
    await adminQuery(spec.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
