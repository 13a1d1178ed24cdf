/**
 * Manual benchmark (not part of `npm test`): builds ~1M resources with index
 * rows in a throwaway database, prints EXPLAIN plans and latency percentiles
 * for the target searches. Run: node dist/test/search/bench-search.js [scale]
 * (scale 1 = 1M resources). Keep the database with HAVEN_BENCH_KEEP=1; reuse a
 * kept one with HAVEN_BENCH_URL=<url> (same scale).
 */
import { compileSearch, parseSearch } from '../../src/search/index.js';
import { createTestDb } from '../support/db.js';
import { PATIENT_TOKEN_BACKFILL_SQL } from '../../src/store/patient-token-rows.js';
import { PATIENT_KEYED_TOKEN_PARAMS } from '../../src/search/patient-token.js';
import { createDb } from '../../src/store/db.js';
import type { Db } from '../../src/store/db.js';
import { createTestRegistry } from './registry.js';

const scale = Number(process.argv[2] ?? '1');
const patients = Math.round(200_000 * scale);
const observations = Math.round(600_000 * scale);
const encounters = Math.round(200_000 * scale);

async function generate(db: Db): Promise<void> {
  const t = "'default'";
  const content = `decode(repeat('ab', 100), 'hex')`;
  await db.query(`INSERT INTO resource SELECT ${t}, 'Patient', 'p' || g, 1, now() - (g || ' seconds')::interval, false, ${content} FROM generate_series(1, ${patients}) g`);
  await db.query(`INSERT INTO resource SELECT ${t}, 'Observation', 'o' || g, 1, now() - (g || ' seconds')::interval, false, ${content} FROM generate_series(1, ${observations}) g`);
  await db.query(`INSERT INTO resource SELECT ${t}, 'Encounter', 'e' || g, 1, now() - (g || ' seconds')::interval, false, ${content} FROM generate_series(1, ${encounters}) g`);
  // Patients: 5000 surnames, birth dates over 90 years, two genders.
  await db.query(`INSERT INTO idx_string SELECT ${t}, 'Patient', 'p' || g, 'family', 'fam' || (g % 5000), 'Fam' || (g % 5000) FROM generate_series(1, ${patients}) g`);
  await db.query(`INSERT INTO idx_date SELECT ${t}, 'Patient', 'p' || g, 'birthdate', d, d + interval '1 day' - interval '1 millisecond'
    FROM (SELECT g, timestamptz '1935-01-01' + ((g::bigint * 7919) % 32850) * interval '1 day' AS d FROM generate_series(1, ${patients}) g) s`);
  await db.query(`INSERT INTO idx_token SELECT ${t}, 'Patient', 'p' || g, 'gender', 'http://hl7.org/fhir/administrative-gender', CASE WHEN g % 2 = 0 THEN 'male' ELSE 'female' END, NULL FROM generate_series(1, ${patients}) g`);
  // Observations: 3 per patient on average, 200 codes, dates over 5 years.
  await db.query(`INSERT INTO idx_reference (tenant_id, resource_type, resource_id, param, target_type, target_id)
    SELECT ${t}, 'Observation', 'o' || g, p, 'Patient', 'p' || (1 + (g * 7) % ${patients}) FROM generate_series(1, ${observations}) g, (VALUES ('patient'), ('subject')) v(p)`);
  await db.query(`INSERT INTO idx_token SELECT ${t}, 'Observation', 'o' || g, 'code', 'http://loinc.org', 'c' || (g % 200), 'code ' || (g % 200) FROM generate_series(1, ${observations}) g`);
  await db.query(`INSERT INTO idx_date SELECT ${t}, 'Observation', 'o' || g, 'date', d, d
    FROM (SELECT g, timestamptz '2020-01-01' + ((g::bigint * 104729) % 157680000) * interval '1 second' AS d FROM generate_series(1, ${observations}) g) s`);
  // Encounters: one period each, a few hours long, over 5 years.
  await db.query(`INSERT INTO idx_date SELECT ${t}, 'Encounter', 'e' || g, 'date', d, d + interval '3 hours'
    FROM (SELECT g, timestamptz '2020-01-01' + ((g::bigint * 104729) % 157680000) * interval '1 second' AS d FROM generate_series(1, ${encounters}) g) s`);
  await db.query(`INSERT INTO idx_reference (tenant_id, resource_type, resource_id, param, target_type, target_id)
    SELECT ${t}, 'Encounter', 'e' || g, 'patient', 'Patient', 'p' || (1 + (g * 13) % ${patients}) FROM generate_series(1, ${encounters}) g`);
  await db.query(PATIENT_TOKEN_BACKFILL_SQL, [[...PATIENT_KEYED_TOKEN_PARAMS]]);
  await db.query('VACUUM ANALYZE');
}

const registry = createTestRegistry();

const searches: [string, (i: number) => string][] = [
  ['Observation', (i) => `patient=Patient/p${1 + ((i * 7919) % patients)}&code=http://loinc.org|c${i % 200}`],
  ['Patient', (i) => `family=fam${(i * 31) % 5000}&birthdate=ge${1935 + (i % 90)}-01-01`],
  ['Encounter', (i) => `date=ge202${i % 5}-0${1 + (i % 9)}-15&_sort=-date`],
  ['Patient', (i) => `family=fam${(i * 31) % 5000}`],
  ['Observation', (i) => `code=c${i % 200}&date=ge2022-01-01&_count=50`],
];

function compiled(type: string, search: string) {
  return compileSearch(parseSearch(type, [...new URLSearchParams(search)], registry), 'default');
}

async function main(): Promise<void> {
  const reuse = process.env.HAVEN_BENCH_URL;
  const t = reuse ? { db: createDb({ connectionString: reuse }), url: reuse, drop: async () => undefined } : await createTestDb();
  try {
    let started = Date.now();
    if (!reuse) await generate(t.db);
    console.log(`generated ${patients + observations + encounters} resources in ${Date.now() - started} ms`);
    for (const [type, make] of searches) {
      const { sql, params } = compiled(type, make(1));
      const plan = await t.db.query(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`, params);
      console.log(`\n=== ${type}?${make(1)}\n${plan.rows.map((r) => r['QUERY PLAN']).join('\n')}`);
      const times: number[] = [];
      for (let i = 0; i < 300; i++) {
        const q = compiled(type, make(i));
        started = performance.now();
        await t.db.query(q.sql, q.params);
        times.push(performance.now() - started);
      }
      times.sort((a, b) => a - b);
      const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(times.length * p))]!.toFixed(1);
      console.log(`latency ms p50 ${pct(0.5)} p95 ${pct(0.95)} p99 ${pct(0.99)} max ${pct(1)}`);
    }
  } finally {
    if (process.env.HAVEN_BENCH_KEEP === '1') console.log(`kept ${t.url}`);
    else if (reuse) await t.db.close();
    else await t.drop();
  }
}

await main();
