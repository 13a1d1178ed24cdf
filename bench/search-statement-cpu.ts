/**
 * PostgreSQL CPU per statement of each benchmark search family, compiled
 * exactly as the server compiles it (bench/search-statements.ts, protected
 * values as blind-index tags), run directly on one connection and measured
 * as that backend's CPU (/proc/<pid>/stat) per execution, in three modes:
 * - `unnamed`: what the server sends (Parse + Bind + Execute every time; planned every time);
 * - `named-custom`: a named statement with `plan_cache_mode = force_custom_plan`
 *   (parsed once per connection, still planned with the actual values);
 * - `named-generic`: a named statement with `force_generic_plan` (neither parsed nor planned again)
 *   — how plan-stable statements run (src/search/plan-stability.ts); for the others it is shown to say
 *   what planning costs, and whether the generic plan differs (ADR 0002).
 * Also each statement's plan (node list) per mode, so a rewrite can be checked family by family.
 * `--with-estimates` adds the has-last estimate of the `_has` family (the planning-only EXPLAIN the search
 * runner sends first) and reports each statement's CPU beside the family's sum.
 *
 *   node dist/bench/search-statement-cpu.js --data-dir DIR --database-url URL --patients N [--values 4] [--runs 100] [--family NAME] [--with-estimates] [--out FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import pg from 'pg';
import { createFhirDefinitions } from '../src/fhir/index.js';
import { createQueryBlinder } from './blind-tags.js';
import { redraw } from './ingest.js';
import { machineFacts } from './machine.js';
import { requiredArg } from './options.js';
import { specStatements, targetSearches } from './searches.js';
import { round } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback?: string): string => requiredArg(name, fallback, args);
const dataDir = opt('data-dir');
const databaseUrl = opt('database-url');
const patients = Number(opt('patients'));
const values = Number(opt('values', '4'));
const runs = Number(opt('runs', '100'));
const only = args.includes('--family') ? opt('family') : undefined;
const out = args.includes('--out') ? opt('out') : undefined;
// The has-last estimate of a `_has` search too, measured as the other statements (src/store/has-last-memo.ts saves it on
// repeats); each statement's own CPU is then reported beside the family's sum.
const withEstimates = args.includes('--with-estimates');

type Mode = 'unnamed' | 'named-custom' | 'named-generic';
const MODES: Mode[] = ['unnamed', 'named-custom', 'named-generic'];

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function nodesOf(plan: PlanNode): string[] {
  const outList: string[] = [];
  const walk = (n: PlanNode) => {
    outList.push([n['Node Type'], n['Index Name'] ?? n['Relation Name']].filter(Boolean).join(' '));
    for (const c of n.Plans ?? []) walk(c);
  };
  walk(plan);
  return outList;
}

/** A bind value as an SQL literal of unknown type (text, number or array). */
function literal(db: pg.Client, v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v instanceof Date) return db.escapeLiteral(v.toISOString());
  if (Array.isArray(v)) return db.escapeLiteral(`{${v.map((e) => (e === null ? 'NULL' : `"${String(e).replace(/["\\]/g, '\\$&')}"`)).join(',')}}`);
  return db.escapeLiteral(String(v));
}

/**
 * The plan the statement gets in `mode`. A generic plan is shown by EXPLAIN EXECUTE of a prepared statement
 * under force_generic_plan (plan_cache_mode is in effect): EXPLAIN's GENERIC_PLAN option needs PostgreSQL 16.
 */
async function explainAs(db: pg.Client, mode: Mode, sql: string, params: unknown[]): Promise<PlanNode> {
  if (mode !== 'named-generic') {
    return (await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows[0]!['QUERY PLAN'][0].Plan;
  }
  await db.query(`PREPARE explained_generic AS ${sql}`);
  try {
    // EXPLAIN takes no bind parameters: the values go in as literals, typed by the PREPARE.
    const args = params.map((v) => literal(db, v)).join(', ');
    const res = await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) EXECUTE explained_generic${args ? `(${args})` : ''}`);
    return res.rows[0]!['QUERY PLAN'][0].Plan;
  } finally {
    await db.query('DEALLOCATE explained_generic');
  }
}

async function main(): Promise<void> {
  const loadAverageStart = os.loadavg().map((v) => round(v));
  const fhir = createFhirDefinitions();
  const blinder = await createQueryBlinder(dataDir, databaseUrl);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const pid = (await db.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
  const searches = targetSearches(redraw(Number(opt('seed', '42')), patients)).filter((s) => !only || s.name === only);
  const results: unknown[] = [];
  let counter = 0;
  for (const s of searches) {
    const perMode = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
    const perLabel = new Map<string, number[]>();
    const plans = new Map<Mode, Set<string>>(MODES.map((m) => [m, new Set<string>()]));
    for (let v = 0; v < values; v++) {
      const statements = await specStatements(db, fhir, s, v + 100, blinder, withEstimates);
      for (const mode of MODES) {
        await db.query(`SET plan_cache_mode = ${mode === 'named-generic' ? 'force_generic_plan' : 'force_custom_plan'}`);
        let total = 0;
        for (const { label, compiled } of statements) {
          const name = `s${counter++}`;
          const q = mode === 'unnamed' ? { text: compiled.sql, values: compiled.params } : { name, text: compiled.sql, values: compiled.params };
          for (let i = 0; i < 5; i++) await db.query(q);
          const before = cpuMs(pid);
          for (let i = 0; i < runs; i++) await db.query(q);
          const each = (cpuMs(pid) - before) / runs;
          total += each;
          perLabel.set(`${label} ${mode}`, [...(perLabel.get(`${label} ${mode}`) ?? []), each]);
          if (mode !== 'unnamed') await db.query(`DEALLOCATE ${name}`);
          // An estimate is itself an EXPLAIN: it has no plan of its own to show.
          if (label === 'has-last estimate') continue;
          const explained = await explainAs(db, mode, compiled.sql, compiled.params);
          plans.get(mode)!.add(nodesOf(explained).join(' > '));
        }
        perMode.get(mode)!.push(total);
      }
    }
    await db.query('SET plan_cache_mode = auto');
    const mean = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length), 3);
    const row = {
      name: s.name,
      pgCpuMsPerSearch: Object.fromEntries(MODES.map((m) => [m, mean(perMode.get(m)!)])),
      pgCpuMsPerStatement: Object.fromEntries([...perLabel].map(([k, xs]) => [k, mean(xs)])),
      plans: Object.fromEntries(MODES.map((m) => [m, [...plans.get(m)!]])),
    };
    results.push(row);
    console.log(`${s.name.padEnd(52)} ${MODES.map((m) => `${m} ${row.pgCpuMsPerSearch[m]}`).join('  ')} ms`);
    if (withEstimates) console.log(`  per statement: ${JSON.stringify(row.pgCpuMsPerStatement)}`);
  }
  await db.end();
  await blinder.close();
  if (out) writeFileSync(out, `${JSON.stringify({ benchmark: 'search-statement-cpu', date: new Date().toISOString(), machine: { ...machineFacts(), nproc: os.cpus().length, loadAverageStart, loadAverageEnd: os.loadavg().map((v) => round(v)) }, patients, values, runs, withEstimates, results }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
