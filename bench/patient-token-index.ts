/**
 * ADR 0010's prototype: what a token index keyed by the resource's patient would change for the three
 * benchmark searches that pair a patient with a code — `Observation?patient=…&code=…`,
 * `Patient/…/Observation?code=…` and `Patient?family=…&_has:Observation:patient:code=…`. Today each is an
 * intersection: the patient's Observations from idx_reference, then one idx_token probe per Observation
 * (~30 per patient at 1M resources, more for `_has`, which probes candidate after candidate).
 *
 * On a store an earlier `bench/run.ts` loaded, the bench builds `bench_patient_token`: every Observation
 * token row with the Observation's `patient` reference beside it, indexed (tenant, type, param, code,
 * system, patient, id), so a patient and a code are one index range. Per search family and `--values`
 * values drawn as the benchmark draws them: the statement the server sends today (search-statements.ts)
 * and the same question answered from the prototype — the same rows (checked), PostgreSQL CPU per
 * statement over `--runs` executions (the backend's scheduled CPU), the buffers one execution touches. Then
 * the write side: backend CPU and WAL per row inserted into the prototype and into idx_token (in
 * transactions rolled back), and the prototype's rows and size per Observation.
 *
 * The compartment form here reads only `patient`: the real Patient compartment of an Observation also
 * holds its `performer`, which a built index would carry too (ADR 0010). The bench's Observations have
 * no Patient performer, so the rows compare equal. `--params code,category` keys only those token
 * parameters (all but blind-indexed ones by default). The table is dropped at the end unless `--keep`.
 *
 *   node dist/bench/patient-token-index.js --data-dir DIR --database-url URL --patients N [--values 20] [--runs 10] [--write-rows 100000] [--params P,…] [--out FILE] [--keep]
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type pg from 'pg';
import type { CompiledSql } from '../src/search/index.js';
import { cpuMsOf } from './cpu-meter.js';
import { redraw } from './ingest.js';
import { machineFacts } from './machine.js';
import { requiredArg } from './options.js';
import { openStoreClient } from './store-client.js';
import { specStatements, targetSearches, type SearchSpec } from './searches.js';
import { median, round } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback?: string): string => requiredArg(name, fallback, args);
const dataDir = opt('data-dir');
const databaseUrl = opt('database-url');
const patients = Number(opt('patients'));
const values = Number(opt('values', '20'));
const runs = Number(opt('runs', '10'));
const writeRows = Number(opt('write-rows', '100000'));
const out = args.includes('--out') ? opt('out') : undefined;
const keep = args.includes('--keep');
const keyed = args.includes('--params') ? opt('params').split(',').filter((p) => /^[a-z][a-z0-9-]*$/.test(p)) : null;

const TABLE = 'bench_patient_token';
const FAMILIES = ['observation-by-patient-and-code', 'patient-compartment-observations-by-code', 'patient-has-observation-code-by-family'];

const BUILD = [
  `DROP TABLE IF EXISTS ${TABLE}`,
  `CREATE TABLE ${TABLE} AS
   SELECT t.tenant_id, t.resource_type, t.param, t.code, t.system, r.target_id AS patient_id, t.resource_id
   FROM idx_token t
   JOIN idx_reference r ON r.tenant_id = t.tenant_id AND r.resource_type = t.resource_type AND r.resource_id = t.resource_id
     AND r.param = 'patient' AND r.target_type = 'Patient'
   WHERE t.resource_type = 'Observation' AND t.blind IS NULL${keyed ? ` AND t.param IN (${keyed.map((p) => `'${p}'`).join(', ')})` : ''}`,
  `CREATE INDEX ${TABLE}_lookup ON ${TABLE} (tenant_id, resource_type, param, code, system, patient_id, resource_id)`,
  `VACUUM ANALYZE ${TABLE}`,
];

/** The patient's Observations of one code, from one index range. */
function patientCodePage(tenant: string, patient: string, system: string, code: string): CompiledSql {
  return {
    sql: `SELECT r.resource_type, r.id, r.version_id, r.last_updated, r.deleted, r.content
FROM resource r
WHERE r.tenant_id = $1 AND r.resource_type = 'Observation' AND NOT r.deleted
  AND r.id IN (SELECT p.resource_id FROM ${TABLE} p WHERE p.tenant_id = $1 AND p.resource_type = 'Observation' AND p.param = 'code'
    AND p.code = $2 AND p.system = $3 AND p.patient_id = $4)
ORDER BY r.id ASC
LIMIT 21`,
    params: [tenant, code, system, patient],
  };
}

/** The has-last page (src/search/compile.ts) with its `_has` probe answered by one index range per candidate. */
function hasPage(today: CompiledSql): CompiledSql {
  const probe = /AND r\.id IN \(SELECT h0\.target_id FROM idx_reference h0 WHERE [^\n]*\)\) OFFSET 0\) r/;
  if (!probe.test(today.sql)) throw new Error('the _has page is not in the has-last form this prototype rewrites');
  // $5 is the source type (Observation), $7 the code, $8 the system, $9 the token parameter; $6 (the reference parameter) stays
  // bound, and is used, so the statement keeps today's parameter list.
  const sql = today.sql.replace(
    probe,
    `AND EXISTS (SELECT 1 FROM ${TABLE} p WHERE p.tenant_id = $1 AND p.resource_type = $5 AND p.param = $9 AND p.code = $7 AND p.system = $8
    AND p.patient_id = r.id AND $6::text = 'patient') OFFSET 0) r`,
  );
  return { sql, params: today.params };
}

function splitToken(v: string): [string, string] {
  const bar = v.indexOf('|');
  return [v.slice(0, bar), v.slice(bar + 1)];
}

/** The prototype's statement for value `i` of a family, beside today's. */
function prototypeOf(s: SearchSpec, i: number, today: CompiledSql): CompiledSql {
  const params = new Map(s.params(i));
  if (s.name === 'patient-has-observation-code-by-family') return hasPage(today);
  const patient = s.compartment?.(i).id ?? (params.get('patient') ?? '').replace(/^Patient\//, '');
  const [system, code] = splitToken(params.get('code') ?? '');
  return patientCodePage('default', patient, system, code);
}

interface Measured {
  cpuMs: number;
  buffers: number;
  ids: string;
}

async function measure(db: pg.Client, pid: number, c: CompiledSql): Promise<Measured> {
  const q = { text: c.sql, values: c.params };
  for (let k = 0; k < 2; k++) await db.query(q);
  const before = cpuMsOf(pid);
  for (let k = 0; k < runs; k++) await db.query(q);
  const cpuMs = (cpuMsOf(pid) - before) / runs;
  const plan = (await db.query<{ 'QUERY PLAN': [{ Plan: Record<string, number> }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${c.sql}`, c.params)).rows[0]!['QUERY PLAN'][0].Plan;
  const ids = (await db.query<{ id: string }>(q)).rows.map((r) => r.id).join(',');
  return { cpuMs, buffers: (plan['Shared Hit Blocks'] ?? 0) + (plan['Shared Read Blocks'] ?? 0), ids };
}

/** Backend CPU and WAL per row of inserting `writeRows` copies of existing rows, rolled back. */
async function insertCost(db: pg.Client, pid: number, table: string, columns: string[], where: string): Promise<{ cpuUsPerRow: number; walBytesPerRow: number }> {
  await db.query('BEGIN');
  try {
    const wal = (await db.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l;
    const before = cpuMsOf(pid);
    const res = await db.query(`INSERT INTO ${table} (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM ${table} WHERE ${where} LIMIT ${writeRows}`);
    const cpuMs = cpuMsOf(pid) - before;
    const bytes = Number((await db.query<{ b: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn) AS b', [wal])).rows[0]!.b);
    const rows = res.rowCount ?? 1;
    return { cpuUsPerRow: round((cpuMs * 1000) / rows), walBytesPerRow: round(bytes / rows, 1) };
  } finally {
    await db.query('ROLLBACK');
    await db.query(`VACUUM ${table}`);
  }
}

async function main(): Promise<void> {
  const loadAverageStart = os.loadavg().map((v) => round(v));
  const store = await openStoreClient(dataDir, databaseUrl);
  const { db, pid, fhir, blinder } = store;
  try {
    const started = performance.now();
    for (const sql of BUILD) await db.query(sql);
    const buildSeconds = round((performance.now() - started) / 1000, 1);
    const size = (
      await db.query<{ rows: string; observations: string; heap: string; index: string; token_rows: string; token_lookup: string }>(
        `SELECT (SELECT count(*) FROM ${TABLE}) AS rows,
                (SELECT count(*) FROM resource WHERE resource_type = 'Observation' AND NOT deleted) AS observations,
                pg_relation_size('${TABLE}') AS heap, pg_relation_size('${TABLE}_lookup') AS index,
                (SELECT count(*) FROM idx_token) AS token_rows, pg_relation_size('idx_token_lookup_id') AS token_lookup`,
      )
    ).rows[0]!;
    const prototype = {
      params: keyed ?? 'all but blind-indexed',
      buildSeconds,
      rows: Number(size.rows),
      rowsPerObservation: round(Number(size.rows) / Number(size.observations)),
      heapMb: round(Number(size.heap) / 2 ** 20, 0),
      indexMb: round(Number(size.index) / 2 ** 20, 0),
      idxTokenRows: Number(size.token_rows),
      idxTokenLookupMb: round(Number(size.token_lookup) / 2 ** 20, 0),
    };
    console.log(`prototype: ${JSON.stringify(prototype)}`);

    const searches = targetSearches(redraw(Number(opt('seed', '42')), patients)).filter((s) => FAMILIES.includes(s.name));
    const results = [];
    for (const s of searches) {
      const today: Measured[] = [];
      const proto: Measured[] = [];
      let differ = 0;
      for (let i = 0; i < values; i++) {
        const [page] = await specStatements(db, fhir, s, i, blinder);
        const a = await measure(db, pid, page!.compiled);
        const b = await measure(db, pid, prototypeOf(s, i, page!.compiled));
        if (a.ids !== b.ids) differ++;
        today.push(a);
        proto.push(b);
      }
      const arm = (xs: Measured[]) => ({
        pgCpuMsPerStatement: median(xs.map((x) => x.cpuMs), 3),
        pgCpuMsMean: round(xs.reduce((sum, x) => sum + x.cpuMs, 0) / xs.length, 3),
        buffersMean: round(xs.reduce((sum, x) => sum + x.buffers, 0) / xs.length, 1),
      });
      const row = { name: s.name, example: s.params(0), values, sameRows: values - differ, today: arm(today), prototype: arm(proto) };
      console.log(
        `${s.name.padEnd(44)} same rows ${row.sameRows}/${values}; CPU mean ${row.today.pgCpuMsMean} -> ${row.prototype.pgCpuMsMean} ms; buffers ${row.today.buffersMean} -> ${row.prototype.buffersMean}`,
      );
      if (differ > 0) throw new Error(`${s.name}: the prototype returned other rows for ${differ} of ${values} values`);
      results.push(row);
    }

    const writes = {
      prototypeRow: await insertCost(db, pid, TABLE, ['tenant_id', 'resource_type', 'param', 'code', 'system', 'patient_id', 'resource_id'], 'true'),
      idxTokenRow: await insertCost(db, pid, 'idx_token', ['tenant_id', 'resource_type', 'resource_id', 'param', 'system', 'code', 'text_norm', 'grp', 'blind'], "resource_type = 'Observation'"),
    };
    console.log(`insert per row: prototype ${JSON.stringify(writes.prototypeRow)}, idx_token ${JSON.stringify(writes.idxTokenRow)}`);
    if (out) {
      const machine = { ...machineFacts(), loadAverageStart, loadAverageEnd: os.loadavg().map((v) => round(v)) };
      writeFileSync(out, `${JSON.stringify({ benchmark: 'patient-token-index', date: new Date().toISOString(), machine, patients, values, runs, writeRows, prototype, results, writes }, null, 2)}\n`);
    }
  } finally {
    if (!keep) await db.query(`DROP TABLE IF EXISTS ${TABLE}`).catch(() => undefined);
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
