/**
 * What the database collation costs Haven's index writes: the same token
 * rows (shaped like idx_token's, with its three B-trees) inserted in random
 * order into tables whose text columns use the C collation, the database's
 * default, and ICU `en-US` (when the server has ICU). Why Haven warns at start
 * about a language collation (src/store/collation.ts, docs/configuration.md).
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/collation-insert.js [--rows 400000] [--rounds 3] [--out NAME]
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import pg from 'pg';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { adminQuery, databaseUrl } from './pg-admin.js';
import { median, round } from './stats.js';

const TEXT_COLUMNS = ['tenant_id', 'resource_type', 'resource_id', 'param', 'system', 'code'];

function createTable(name: string, collation: string | null): string[] {
  const cols = TEXT_COLUMNS.map((c) => `${c} text${collation ? ` COLLATE "${collation}"` : ''}`).join(', ');
  return [
    `CREATE TABLE ${name} (${cols}, grp int, blind bytea)`,
    `CREATE INDEX ON ${name} (tenant_id, resource_type, resource_id)`,
    `CREATE INDEX ON ${name} (tenant_id, resource_type, param, code, system, resource_id)`,
    `CREATE INDEX ON ${name} (tenant_id, resource_type, param, blind, system) WHERE blind IS NOT NULL`,
  ];
}

async function main(): Promise<void> {
  const admin = process.env.DATABASE_URL;
  if (!admin) throw new Error('DATABASE_URL (a PostgreSQL server) is required');
  const rows = positiveArg('rows', 400_000);
  const rounds = positiveArg('rounds', 3);
  const name = `haven_bench_coll_${randomBytes(3).toString('hex')}`;
  await adminQuery(admin, `CREATE DATABASE ${name}`);
  const db = new pg.Client({ connectionString: databaseUrl(admin, name) });
  await db.connect();
  try {
    const info = (await db.query<{ collate: string; provider: string }>('SELECT datcollate AS collate, datlocprovider AS provider FROM pg_database WHERE datname = current_database()')).rows[0]!;
    const icu = ((await db.query("SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu'")).rowCount ?? 0) > 0;
    const variants: Record<string, string | null> = { C: 'C', [`default (${info.provider === 'i' ? 'icu' : 'libc'} ${info.collate})`]: null, ...(icu ? { 'en-US-x-icu': 'en-US-x-icu' } : {}) };
    // Token-shaped rows: 9 parameters, 3,000 codes, 25 rows per resource, in random order (as many writers interleave).
    await db.query(`CREATE TABLE src AS
      SELECT 'default'::text AS tenant_id, 'Observation'::text AS resource_type, 'synth-42-' || (g / 25) || '-' || (g % 7) AS resource_id,
             (ARRAY['code','category','status','combo-code','identifier','_tag','_security','value-concept','combo-code-value-concept'])[1 + g % 9] AS param,
             'http://loinc.org'::text AS system, ((g::bigint * 7919) % 3000)::text AS code, NULL::int AS grp, NULL::bytea AS blind
      FROM generate_series(1, ${rows}) g ORDER BY random()`);
    const names = Object.keys(variants);
    const samples: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round, so the machine's weather falls on every variant.
      for (const v of names.map((_, i) => names[(i + r) % names.length]!)) {
        for (const sql of createTable('t', variants[v]!)) await db.query(sql);
        const started = performance.now();
        await db.query('INSERT INTO t SELECT * FROM src');
        samples[v]!.push(round(performance.now() - started, 0));
        await db.query('DROP TABLE t');
        console.log(`round ${r + 1} ${v}: ${samples[v]!.at(-1)} ms (load ${round(loadavg()[0]!)})`);
      }
    }
    const c = median(samples['C']!, 0);
    const result = {
      benchmark: 'collation-insert',
      at: new Date().toISOString(),
      machine: machineFacts(),
      method: `INSERT … SELECT of ${rows} token-shaped rows in random order into a table with idx_token's three B-trees, text columns in each collation`,
      rows,
      samplesMs: samples,
      medianMs: Object.fromEntries(names.map((n) => [n, median(samples[n]!, 0)])),
      relativeToC: Object.fromEntries(names.map((n) => [n, round(median(samples[n]!, 0) / c, 2)])),
    };
    console.log(result.medianMs, result.relativeToC);
    mkdirSync('bench/results', { recursive: true });
    const out = stringArg('out') ?? `collation-insert-${result.at.slice(0, 19).replace(/:/g, '-')}`;
    writeFileSync(`bench/results/${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`results: bench/results/${out}.json`);
  } finally {
    await db.end();
    await adminQuery(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

await main();
