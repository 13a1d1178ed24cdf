/**
 * What includeAssociatedData costs at the database: the page queries an export
 * worker runs (src/bulk/chunk-sql.ts), read to the end with keyset paging as the
 * worker does, for a plain chunk of Observations, a plain chunk of Provenance,
 * and the associated-data chunk (Relevant and Latest) of that Observation chunk
 * (src/bulk/associated-sql.ts; JIT off, as the worker runs its pages).
 * Rows are written straight into the tables (resource rows with dummy content,
 * the Provenance `target` and `recorded` index rows), so no decryption or file
 * writing is measured: those cost the same per row in every chunk. PostgreSQL CPU
 * per row is the figure; wall time moves with the machine's load.
 *
 *   node dist/bench/bulk-associated.js [--observations 100000] [--db URL]
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { chunkPageSql, nextCursor } from '../src/bulk/chunk-sql.js';
import type { ChunkSqlContext } from '../src/bulk/export-conditions.js';
import type { ChunkPayload, ExportParams } from '../src/bulk/model.js';
import { createDb } from '../src/store/db.js';
import { migrate } from '../src/store/migrate.js';
import { createCpuMeter } from './cpu-meter.js';
import { adminQuery, freshDatabase } from './pg-admin.js';
import { positiveArg } from './options.js';
import { round } from './stats.js';

const args = process.argv.slice(2);
const dbArg = args.indexOf('--db');
const serverUrl = dbArg >= 0 ? args[dbArg + 1]! : (process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
const N = positiveArg('observations', 100_000);
const TENANT = 'bench';
const PAGE = 500;

async function load(url: string): Promise<void> {
  const db = createDb({ connectionString: url, maxConnections: 2 });
  await migrate(db);
  await db.close();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const content = `decode(repeat('ab', 300), 'hex')`;
  // One Provenance per Observation, and a second, older one for every fifth.
  await c.query(
    `INSERT INTO resource (tenant_id, resource_type, id, version_id, last_updated, content)
     SELECT $1, 'Observation', 'o-' || i, 1, now() - interval '1 hour', ${content} FROM generate_series(1, $2) i
     UNION ALL SELECT $1, 'Provenance', 'p-' || i, 1, now() - interval '1 hour', ${content} FROM generate_series(1, $2) i
     UNION ALL SELECT $1, 'Provenance', 'q-' || i, 1, now() - interval '1 hour', ${content} FROM generate_series(5, $2, 5) i`,
    [TENANT, N],
  );
  await c.query(
    `INSERT INTO idx_reference (tenant_id, resource_type, resource_id, param, target_type, target_id)
     SELECT $1, 'Provenance', 'p-' || i, 'target', 'Observation', 'o-' || i FROM generate_series(1, $2) i
     UNION ALL SELECT $1, 'Provenance', 'q-' || i, 'target', 'Observation', 'o-' || i FROM generate_series(5, $2, 5) i`,
    [TENANT, N],
  );
  await c.query(
    `INSERT INTO idx_date (tenant_id, resource_type, resource_id, param, low, high)
     SELECT $1, 'Provenance', 'p-' || i, 'recorded', t, t FROM generate_series(1, $2) i, LATERAL (SELECT now() - make_interval(days => 1, secs => i) AS t) x
     UNION ALL SELECT $1, 'Provenance', 'q-' || i, 'recorded', t, t FROM generate_series(5, $2, 5) i, LATERAL (SELECT now() - make_interval(days => 2, secs => i) AS t) x`,
    [TENANT, N],
  );
  await c.query('ANALYZE');
  await c.end();
}

/** Reads one chunk to its end, page by page, as runChunk does; PostgreSQL CPU and wall time. */
async function readChunk(url: string, chunk: ChunkPayload, types: string[]) {
  const ctx = { patientParams: () => [] } as unknown as ChunkSqlContext; // no filters, system level: registry unused
  const job = { transactionTime: new Date(), params: { level: 'system', types, typeFilters: [], warnings: [] } as ExportParams };
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('SET jit = off');
  const meter = await createCpuMeter(process.pid, url, undefined);
  const before = await meter.snapshot();
  const t0 = process.hrtime.bigint();
  let rows = 0;
  let cursor = '';
  for (;;) {
    const q = await chunkPageSql(ctx, TENANT, job, chunk, cursor, PAGE);
    const page = (await c.query<{ id: string; target_id?: string }>(q.sql, q.params)).rows;
    rows += page.length;
    if (page.length < PAGE) break;
    cursor = nextCursor(chunk, page[page.length - 1]!);
  }
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = await meter.snapshot();
  await meter.close();
  await c.end();
  const pgMs = after.pgMs - before.pgMs;
  return { rows, wallMs: round(wallMs, 0), pgCpuMs: pgMs, pgCpuMsPer1000Rows: round((1000 * pgMs) / Math.max(rows, 1), 2) };
}

/** --explain: the plan of the first associated (Latest) page. */
async function explain(url: string): Promise<void> {
  const ctx = { patientParams: () => [] } as unknown as ChunkSqlContext;
  const job = { transactionTime: new Date(), params: { level: 'system', types: ['Observation'], typeFilters: [], warnings: [] } as ExportParams };
  const q = await chunkPageSql(ctx, TENANT, job, { type: 'Provenance', after: null, upTo: null, associated: 'latest', targetType: 'Observation', targets: ['Observation'] }, '', PAGE);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const plan = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${q.sql}`, q.params);
  console.log(q.sql);
  console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
  await c.end();
}

async function main(): Promise<void> {
  const name = 'haven_bench_assoc';
  const url = await freshDatabase(serverUrl, name);
  try {
    await load(url);
    if (args.includes('--explain')) await explain(url);
    const provenance = N + Math.floor(N / 5);
    const all = { after: null, upTo: null };
    const runs = {
      observationChunk: await readChunk(url, { type: 'Observation', ...all }, ['Observation']),
      provenanceChunk: await readChunk(url, { type: 'Provenance', ...all }, ['Provenance']),
      associatedRelevant: await readChunk(url, { type: 'Provenance', ...all, associated: 'relevant', targetType: 'Observation', targets: ['Observation'] }, ['Observation']),
      associatedLatest: await readChunk(url, { type: 'Provenance', ...all, associated: 'latest', targetType: 'Observation', targets: ['Observation'] }, ['Observation']),
    };
    if (runs.associatedRelevant.rows !== provenance || runs.associatedLatest.rows !== N) throw new Error(`unexpected row counts ${JSON.stringify(runs)}`);
    const result = {
      benchmark: 'bulk-associated',
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, loadAverage: os.loadavg().map((l) => round(l, 2)) },
      setup: { database: 'external PostgreSQL', observations: N, provenance, pageSize: PAGE, note: 'page queries only (no decryption, no files); dummy 300-byte contents' },
      runs,
      ratios: {
        relevantOverProvenanceChunkPgCpuPerRow: round(runs.associatedRelevant.pgCpuMsPer1000Rows / runs.provenanceChunk.pgCpuMsPer1000Rows, 2),
        latestOverProvenanceChunkPgCpuPerRow: round(runs.associatedLatest.pgCpuMsPer1000Rows / runs.provenanceChunk.pgCpuMsPer1000Rows, 2),
      },
    };
    const file = join('bench', 'results', `bulk-associated-${result.date.slice(0, 16).replace(':', '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    console.log(JSON.stringify(result, null, 2));
    console.log(`written ${file}`);
  } finally {
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
