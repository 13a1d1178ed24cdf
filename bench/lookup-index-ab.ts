/**
 * What look-up indexes that end in the resource id would change for the benchmark's
 * searches, measured on one store with both index forms present: each arm runs in a transaction that
 * drops the other form's indexes and is rolled back, the arms alternating (ABBA) so the host's drift
 * falls on both. Per search family and arm: PostgreSQL CPU per search (the backend's scheduled CPU time over
 * `--runs` executions of each statement, values drawn as the benchmark draws them) and the buffers
 * one execution touches (`EXPLAIN (ANALYZE, BUFFERS)`: shared hit + read, deterministic), with the
 * plan's nodes; and per index table, the backend CPU and WAL per row of inserting `--write-rows` rows
 * with the arm's indexes (what each form costs ingest). The store should be vacuumed (as autovacuum, or Haven's maintenance round where
 * autovacuum is off, keeps it): the bench runs `VACUUM ANALYZE` of the three tables first.
 *
 * Both forms are built by the bench under `bench_id_*` / `bench_noid_*` names and dropped at the end.
 * Run it with no server on the database: the arms hold exclusive locks on the index tables.
 * On 2026-12-03 (bench/results/lookup-index-ab-2026-12-03.json) none was worth its write cost
 * (docs/search.md, "Look-up indexes that end in the id").
 *
 *   node dist/bench/lookup-index-ab.js --data-dir DIR --database-url URL --patients N [--values 6] [--runs 20] [--rounds 4] [--write-rows 100000] [--out FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import type pg from 'pg';
import { redraw } from './ingest.js';
import { machineFacts } from './machine.js';
import { requiredArg } from './options.js';
import { openStoreClient } from './store-client.js';
import { specStatements, targetSearches } from './searches.js';
import { median, round } from './stats.js';

const args = process.argv.slice(2);
const opt = (name: string, fallback?: string): string => requiredArg(name, fallback, args);
const dataDir = opt('data-dir');
const databaseUrl = opt('database-url');
const patients = Number(opt('patients'));
const values = Number(opt('values', '6'));
const runs = Number(opt('runs', '20'));
const rounds = Number(opt('rounds', '4'));
const writeRows = Number(opt('write-rows', '100000'));
const out = args.includes('--out') ? opt('out') : undefined;

/**
 * Each look-up index in both forms, built by the bench under its own names: `with-id` ends in the resource
 * id (idx_token_lookup_id's form), `without-id` as the store has it today. In each arm the
 * store's own index of that name and the other form are dropped, so the store's schema does not matter.
 */
const FORMS: { store: string; table: string; withoutId: string; withId: string }[] = [
  {
    store: 'idx_reference_lookup',
    table: 'idx_reference',
    withoutId: '(tenant_id, resource_type, param, target_id, target_type)',
    withId: '(tenant_id, resource_type, param, target_id, target_type, resource_id)',
  },
  {
    store: 'idx_string_blind',
    table: 'idx_string',
    withoutId: '(tenant_id, resource_type, param, blind) WHERE blind IS NOT NULL',
    withId: '(tenant_id, resource_type, param, blind, resource_id) WHERE blind IS NOT NULL',
  },
  {
    store: 'idx_token_blind',
    table: 'idx_token',
    withoutId: '(tenant_id, resource_type, param, blind, system) WHERE blind IS NOT NULL',
    withId: '(tenant_id, resource_type, param, blind, system, resource_id) WHERE blind IS NOT NULL',
  },
  {
    store: 'idx_string_lookup',
    table: 'idx_string',
    withoutId: '(tenant_id, resource_type, param, value_norm text_pattern_ops) WHERE value_norm IS NOT NULL',
    withId: '(tenant_id, resource_type, param, value_norm text_pattern_ops, resource_id) WHERE value_norm IS NOT NULL',
  },
];
const benchName = (f: (typeof FORMS)[number], arm: Arm) => `bench_${arm === 'with-id' ? 'id' : 'noid'}_${f.store.slice('idx_'.length)}`;
type Arm = 'with-id' | 'without-id';

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

/** The backend's CPU time in ms from /proc/<pid>/schedstat (nanoseconds; /proc/<pid>/stat counts 10 ms ticks, too coarse here). */
const cpuMsOf = (pid: number) => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;

/** Inside an arm's transaction: drops the store's own look-up indexes and the other arm's form of each. */
async function dropOtherForms(db: pg.Client, arm: Arm): Promise<void> {
  const other: Arm = arm === 'with-id' ? 'without-id' : 'with-id';
  for (const f of FORMS) await db.query(`DROP INDEX IF EXISTS ${f.store}, ${benchName(f, other)}`);
}

/**
 * Backend CPU and WAL per row to insert up to `writeRows` rows into `table` with the arm's indexes: copies
 * of rows the forms index (blind tags, plain strings, references), each under a new resource id, so every
 * key is new. Runs inside the arm's transaction, which is rolled back.
 */
async function measureInsert(db: pg.Client, pid: number, table: string): Promise<{ cpuUsPerRow: number; walBytesPerRow: number } | undefined> {
  const columns = (await db.query<{ c: string }>('SELECT column_name AS c FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position', [table])).rows.map((r) => r.c);
  const select = columns.map((c) => (c === 'resource_id' ? `resource_id || '~w' AS resource_id` : c)).join(', ');
  const source = { idx_reference: 'target_id IS NOT NULL', idx_token: 'blind IS NOT NULL' }[table] ?? 'blind IS NOT NULL OR value_norm IS NOT NULL';
  const walBefore = (await db.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l;
  const before = cpuMsOf(pid);
  const res = await db.query(`INSERT INTO ${table} (${columns.join(', ')}) SELECT ${select} FROM ${table} WHERE ${source} LIMIT ${writeRows}`);
  const cpuMs = cpuMsOf(pid) - before;
  const wal = (await db.query<{ b: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn) AS b', [walBefore])).rows[0]!.b;
  const rows = res.rowCount ?? 0;
  return rows > 0 ? { cpuUsPerRow: (cpuMs * 1000) / rows, walBytesPerRow: Number(wal) / rows } : undefined;
}

const nodesOf = (n: PlanNode): string[] => [[n['Node Type'], n['Index Name']].filter(Boolean).join(' '), ...(n.Plans ?? []).flatMap(nodesOf)];

async function main(): Promise<void> {
  const loadAverageStart = os.loadavg().map((v) => round(v));
  const store = await openStoreClient(dataDir, databaseUrl);
  const { db, pid, fhir, blinder } = store;
  try {
    for (const f of FORMS) {
      for (const arm of ['with-id', 'without-id'] as const) {
        await db.query(`CREATE INDEX IF NOT EXISTS ${benchName(f, arm)} ON ${f.table} ${arm === 'with-id' ? f.withId : f.withoutId}`);
      }
    }
    await db.query('VACUUM ANALYZE idx_reference, idx_string, idx_token');
    const searches = targetSearches(redraw(Number(opt('seed', '42')), patients));
    const statements = new Map<string, Awaited<ReturnType<typeof specStatements>>>();
    for (const s of searches) {
      const all = [];
      for (let v = 0; v < values; v++) {
        all.push(...(await specStatements(db, fhir, s, v + 100, blinder)));
      }
      statements.set(s.name, all);
    }
    const cpu = new Map<string, number[]>();
    const buffers = new Map<string, number>();
    const plans = new Map<string, Set<string>>();
    const writes = new Map<string, { cpuUsPerRow: number; walBytesPerRow: number }[]>();
    const key = (arm: Arm, search: string) => `${arm} ${search}`;
    const order: Arm[][] = [
      ['without-id', 'with-id'],
      ['with-id', 'without-id'],
    ];
    for (let r = 0; r < rounds; r++) {
      for (const arm of order[r % 2]!) {
        await db.query('BEGIN');
        try {
          await dropOtherForms(db, arm);
          for (const [search, list] of statements) {
            let total = 0;
            let touched = 0;
            for (const { compiled } of list) {
              const q = { text: compiled.sql, values: compiled.params };
              for (let i = 0; i < 3; i++) await db.query(q);
              const before = cpuMsOf(pid);
              for (let i = 0; i < runs; i++) await db.query(q);
              total += (cpuMsOf(pid) - before) / runs;
              if (r === 0) {
                const explained = (await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${compiled.sql}`, compiled.params)).rows[0]!['QUERY PLAN'][0].Plan;
                touched += (explained['Shared Hit Blocks'] ?? 0) + (explained['Shared Read Blocks'] ?? 0);
                const k = key(arm, search);
                plans.set(k, (plans.get(k) ?? new Set()).add(nodesOf(explained).join(' > ')));
              }
            }
            const k = key(arm, search);
            cpu.set(k, [...(cpu.get(k) ?? []), total / values]);
            if (r === 0) buffers.set(k, touched / values);
          }
        } finally {
          await db.query('ROLLBACK');
        }
        console.log(`round ${r + 1} ${arm} done`);
      }
    }
    // Inserts after every read: a rolled-back insert leaves dead rows, which the vacuum after each arm removes.
    const tables = [...new Set(FORMS.map((f) => f.table))];
    for (let r = 0; r < rounds; r++) {
      for (const arm of order[r % 2]!) {
        await db.query('BEGIN');
        try {
          await dropOtherForms(db, arm);
          for (const table of tables) {
            const w = await measureInsert(db, pid, table);
            if (w) writes.set(key(arm, table), [...(writes.get(key(arm, table)) ?? []), w]);
          }
        } finally {
          await db.query('ROLLBACK');
        }
        await db.query(`VACUUM ${tables.join(', ')}`);
        console.log(`inserts, round ${r + 1} ${arm} done`);
      }
    }
    const results = searches.map((s) => {
      const arm = (a: Arm) => ({
        pgCpuMsPerSearch: median(cpu.get(key(a, s.name)) ?? [], 3),
        pgCpuMsPerRound: (cpu.get(key(a, s.name)) ?? []).map((v) => round(v, 3)),
        buffersPerSearch: round(buffers.get(key(a, s.name)) ?? 0, 1),
        plans: [...(plans.get(key(a, s.name)) ?? [])],
      });
      const row = { name: s.name, withoutId: arm('without-id'), withId: arm('with-id') };
      console.log(
        `${s.name.padEnd(52)} CPU ${row.withoutId.pgCpuMsPerSearch} -> ${row.withId.pgCpuMsPerSearch} ms, buffers ${row.withoutId.buffersPerSearch} -> ${row.withId.buffersPerSearch}`,
      );
      return row;
    });
    const writeResults = [...new Set(FORMS.map((f) => f.table))].map((table) => {
      const arm = (a: Arm) => {
        const xs = writes.get(key(a, table)) ?? [];
        return { cpuUsPerRow: median(xs.map((x) => x.cpuUsPerRow), 2), walBytesPerRow: median(xs.map((x) => x.walBytesPerRow), 1) };
      };
      const row = { table, rows: writeRows, withoutId: arm('without-id'), withId: arm('with-id') };
      console.log(
        `insert into ${table.padEnd(14)} CPU ${row.withoutId.cpuUsPerRow} -> ${row.withId.cpuUsPerRow} µs/row, WAL ${row.withoutId.walBytesPerRow} -> ${row.withId.walBytesPerRow} B/row`,
      );
      return row;
    });
    if (out) {
      const machine = { ...machineFacts(), loadAverageStart, loadAverageEnd: os.loadavg().map((v) => round(v)) };
      writeFileSync(out, `${JSON.stringify({ benchmark: 'lookup-index-ab', date: new Date().toISOString(), machine, patients, values, runs, rounds, results, writes: writeResults }, null, 2)}\n`);
    }
  } finally {
    for (const f of FORMS) await db.query(`DROP INDEX IF EXISTS ${benchName(f, 'with-id')}, ${benchName(f, 'without-id')}`).catch(() => undefined);
    await store.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
