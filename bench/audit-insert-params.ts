/**
 * The read batch INSERT's parameters: the served form (insert.ts: entries and
 * leaves as ONE binary parameter each, in PostgreSQL's binary bytea[] format)
 * against candidates, alternating on one connection: PostgreSQL backend CPU
 * and Node CPU per batch of sealed-size entries (587 bytes). Synchronous
 * commit off in all, so the WAL flush (the same for all) does not drown the
 * difference. Run against a PostgreSQL on this host (backend CPU from /proc).
 *
 * Forms (`--forms a,b`, default `hex bytea[],binary bytea[]`):
 * - `hex bytea[]`: entries and leaves as bytea[] values, which node-postgres
 *   sends as array literals of hex strings (served until 2026-11-29);
 * - `binary bytea[]`: the served form (insert.ts, byteaArray);
 * - `packed bytea`: ONE binary bytea each with the entries' offsets, cut apart
 *   in SQL (substring over generate_series). Not adopted (bench/results/
 *   audit-reads2-2026-11-29.json): at ~7 entries the per-entry substring
 *   subqueries cost about what the hex decoding did.
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node dist/bench/audit-insert-params.js [--batches 1500] [--rounds 4] [--forms a,b] [--out name]
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type pg from 'pg';
import { toBatches, insertEntries } from '../src/audit/insert.js';
import { createTestDb } from '../test/support/db.js';
import type { EntryRow } from '../src/audit/entry.js';
import { cpuMsOf } from './cpu-meter.js';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';
import { round } from './stats.js';

const batches = positiveArg('batches', 1500);
const rounds = positiveArg('rounds', 4);
const formNames = (stringArg('forms') ?? 'hex bytea[],binary bytea[]').split(',');
if (!formNames.every((f) => ['hex bytea[]', 'binary bytea[]', 'packed bytea'].includes(f))) throw new Error('--forms: hex bytea[], binary bytea[], packed bytea');
const SEP = '\u001f';
const LEAF_BYTES = 32;

/** The candidate: entry i (1-based) is bytes [o[i], o[i+1]) of $7, its leaf bytes [32(i-1), 32i) of $9. */
async function insertPacked(q: pg.PoolClient, rows: EntryRow[]): Promise<void> {
  const b = toBatches(rows);
  const offsets = [0];
  for (const e of b.entries) offsets.push(offsets.at(-1)! + e.length);
  await q.query(
    {
      name: 'bench.insert-batches-packed',
      text: `WITH b AS (
               INSERT INTO audit_batch (tenant_id, first_at, last_at, patient_ids, entries, leaf_hashes)
               SELECT t, fa::timestamptz, la::timestamptz, CASE WHEN p = '' THEN '{}'::text[] ELSE string_to_array(p, $10) END,
                      ARRAY(SELECT substring($7::bytea FROM ($8::int[])[i] + 1 FOR ($8::int[])[i + 1] - ($8::int[])[i]) FROM generate_series(f, l) AS i ORDER BY i),
                      ARRAY(SELECT substring($9::bytea FROM (i - 1) * ${LEAF_BYTES} + 1 FOR ${LEAF_BYTES}) FROM generate_series(f, l) AS i ORDER BY i)
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[]) AS u(t, fa, la, p, f, l)
               RETURNING tenant_id, batch_id)
             INSERT INTO audit_batch_queue (batch_id, tenant_id) SELECT batch_id, tenant_id FROM b`,
    },
    [b.tenant, b.firstAt, b.lastAt, b.patients, b.from, b.to, Buffer.concat(b.entries), offsets, Buffer.concat(b.leaves), SEP],
  );
}

/** The statement as served until 2026-11-29: bytea[] values, sent as text literals of hex strings. */
async function insertHex(q: pg.PoolClient, rows: EntryRow[]): Promise<void> {
  const b = toBatches(rows);
  await q.query(
    {
      name: 'bench.insert-batches-hex',
      text: `WITH b AS (
               INSERT INTO audit_batch (tenant_id, first_at, last_at, patient_ids, entries, leaf_hashes)
               SELECT t, fa::timestamptz, la::timestamptz, CASE WHEN p = '' THEN '{}'::text[] ELSE string_to_array(p, $9) END,
                      ($7::bytea[])[f:l], ($8::bytea[])[f:l]
               FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[]) AS u(t, fa, la, p, f, l)
               RETURNING tenant_id, batch_id)
             INSERT INTO audit_batch_queue (batch_id, tenant_id) SELECT batch_id, tenant_id FROM b`,
    },
    [b.tenant, b.firstAt, b.lastAt, b.patients, b.from, b.to, b.entries, b.leaves, SEP],
  );
}

/** Rows shaped like sealed read entries: 587 canonical bytes, one patient tag each. */
const rowsOf = (n: number, k: number): EntryRow[] =>
  Array.from({ length: n }, (_, i) => ({
    entry: { tenant: 'default', recordedAt: new Date().toISOString() } as EntryRow['entry'],
    canonical: randomBytes(587),
    patients: [`b2:${((k * n + i) % 500).toString(16).padStart(64, '0')}`],
  }));

const t = await createTestDb();
const client = await t.db.pool.connect();
const samples: { form: string; size: number; pgUsPerBatch: number; nodeUsPerBatch: number }[] = [];
try {
  const pid = (await client.query<{ p: number }>('SELECT pg_backend_pid() AS p')).rows[0]!.p;
  await client.query('SET synchronous_commit = off');
  const all = {
    'hex bytea[]': (rows: EntryRow[]) => insertHex(client, rows),
    'binary bytea[]': (rows: EntryRow[]) => insertEntries(client, rows),
    'packed bytea': (rows: EntryRow[]) => insertPacked(client, rows),
  };
  const forms = Object.fromEntries(formNames.map((f) => [f, all[f as keyof typeof all]]));
  for (let r = 0; r < rounds; r++) {
    for (const size of [7, 16]) {
      const inputs = Array.from({ length: batches }, (_, k) => rowsOf(size, k));
      const names = [...formNames];
      for (const form of r % 2 === 0 ? names : names.reverse()) {
        const pg0 = cpuMsOf(pid);
        const n0 = process.cpuUsage();
        for (const rows of inputs) await forms[form]!(rows);
        const n1 = process.cpuUsage(n0);
        samples.push({ form, size, pgUsPerBatch: round((1000 * (cpuMsOf(pid) - pg0)) / batches, 0), nodeUsPerBatch: round((n1.user + n1.system) / batches, 1) });
        console.error(JSON.stringify(samples.at(-1)));
      }
    }
  }
} finally {
  client.release();
  await t.drop();
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = Object.fromEntries(
  formNames.flatMap((form) =>
    [7, 16].map((size) => {
      const s = samples.filter((x) => x.form === form && x.size === size);
      return [`${form} x${size}`, { pgUsPerBatch: median(s.map((x) => x.pgUsPerBatch)), nodeUsPerBatch: median(s.map((x) => x.nodeUsPerBatch)) }];
    }),
  ),
);
const out = stringArg('out');
const result = { benchmark: 'audit-insert-params', at: new Date().toISOString(), machine: machineFacts(), batches, rounds, forms: formNames, load1m: round(loadavg()[0]!), summary, samples };
if (out) writeFileSync(`bench/results/${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
console.log(JSON.stringify(summary, null, 1));
