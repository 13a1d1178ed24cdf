/**
 * AuditEvent searches bounded in time (migration 046, src/audit/query.ts dateCondition):
 *   node dist/bench/audit-date-search.js [--entries N | --database NAME] [--before DIR] [--rounds R] [--keep] [--results FILE]
 * Builds a log of N entries (default 1,000,000; bench/audit-log-fixture.ts, 16 entries per batch, one
 * entry about every 3 s, so 1M entries span ~35 days and 10M a year) in a fresh database `haven_date_bench` on DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test), or uses the log already in database NAME (for example the
 * 10,000,000 entries `audit-verify-10m.js --keep --database NAME` leaves) and migrates it.
 * The searches are the questions an auditor asks of a period: before a date, one day, one month,
 * from a date oldest first, the oldest entries, and how many entries a period holds; dates are placed
 * at fractions of the log's span.
 * Each is the API's own (compileAuditSearch + runAuditSearch), run R times (default 7, median).
 * `--before DIR`: first time the same searches with the query code of another compiled Haven tree
 * (DIR/src/audit/query.js, e.g. a checkout of the commit before) on the schema as it was: migration
 * 046's indexes dropped, then made again from the migration file. Both must return the same entries.
 * Writes bench/results/audit-date-search-<date>.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { adminQuery } from './pg-admin.js';
import { createDb, migrate } from '../src/store/index.js';
import { withDatabase } from '../test/support/db.js';
import { buildAuditLogFixture } from './audit-log-fixture.js';
import { sameResults, timeSearches, type QueryModule, type Searches, type Timed } from './audit-search-timing.js';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';


const MIGRATION = new URL('../../src/store/migrations/046-audit-batch-span.sql', import.meta.url);

/** Searches at fractions of the log's time span [first, last]. */
function dateSearches(first: Date, last: Date): Searches {
  const at = (fraction: number) => new Date(first.getTime() + fraction * (last.getTime() - first.getTime()));
  const day = (fraction: number) => at(fraction).toISOString().slice(0, 10);
  const month = (fraction: number) => at(fraction).toISOString().slice(0, 7);
  const nextDay = (fraction: number) => new Date(at(fraction).getTime() + 86_400_000).toISOString().slice(0, 10);
  return [
    ['newest first, no date (reference)', []],
    ['before a date early in the log', [['date', `lt${day(0.1)}`]]],
    ['up to the end of that day', [['date', `le${day(0.1)}`]]],
    ['one month', [['date', month(0.2)]]],
    ['two days', [['date', `ge${day(0.2)}`], ['date', `le${nextDay(0.2)}`]]],
    ['oldest first', [['_sort', 'date']]],
    ['from a date late in the log, oldest first', [['date', `ge${day(0.95)}`], ['_sort', 'date']]],
    ['after the middle, oldest first', [['date', `gt${day(0.5)}`], ['_sort', 'date']]],
    ['one month, accurate total', [['date', month(0.2)], ['_total', 'accurate']]],
    ['one month, count only', [['date', month(0.2)], ['_summary', 'count']]],
    ['two days, count only', [['date', `ge${day(0.2)}`], ['date', `le${nextDay(0.2)}`], ['_summary', 'count']]],
  ];
}

async function main(): Promise<void> {
  const rounds = positiveArg('rounds', 7);
  const reuse = stringArg('database');
  const database = reuse ?? 'haven_date_bench';
  const before = stringArg('before');
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  let fixture: unknown;
  if (!reuse) {
    await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await adminQuery(serverUrl, `CREATE DATABASE ${database}`);
  }
  const db = createDb({ connectionString: withDatabase(serverUrl, database), maxConnections: 4 });
  try {
    await migrate(db);
    if (!reuse) fixture = await buildAuditLogFixture(db, { entries: positiveArg('entries', 1_000_000), headEvery: 50_000 });
    await db.query('VACUUM ANALYZE audit_batch');
    const span = (await db.query<{ tenant: string; first: Date; last: Date; batches: string; entries: string }>(
      `SELECT min(tenant_id) AS tenant, min(first_at) AS first, max(last_at) AS last, count(*)::text AS batches, sum(cardinality(leaf_hashes))::text AS entries FROM audit_batch`,
    )).rows[0]!;
    const searches = dateSearches(span.first, span.last);
    let beforeTimed: Timed[] | undefined;
    if (before) {
      const code = (await import(pathToFileURL(resolve(before, 'src/audit/query.js')).href)) as QueryModule;
      await db.query('DROP INDEX audit_batch_by_first, audit_batch_by_span');
      await db.query('ANALYZE audit_batch');
      beforeTimed = await timeSearches(db, span.tenant, searches, rounds, code);
      await db.query(readFileSync(MIGRATION, 'utf8'));
      await db.query('ANALYZE audit_batch');
    }
    const after = await timeSearches(db, span.tenant, searches, rounds);
    const differs = beforeTimed && sameResults(beforeTimed, after);
    if (differs) throw new Error(`${differs}: the two builds disagree`);
    const out = {
      benchmark: 'audit-date-search',
      date: new Date().toISOString(),
      machine: machineFacts(),
      database: reuse ? 'reused' : 'built',
      entries: Number(span.entries),
      batches: Number(span.batches),
      span: { first: span.first.toISOString(), last: span.last.toISOString() },
      ...(fixture ? { fixture } : {}),
      rounds,
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
      searches: after.map((a, i) => ({ name: a.name, query: a.query, ...(beforeTimed ? { beforeMs: beforeTimed[i]!.medianMs } : {}), afterMs: a.medianMs, entries: a.entries, ...(a.total !== undefined ? { total: a.total } : {}) })),
      ...(beforeTimed ? { before: { build: before, timed: beforeTimed } } : {}),
      after,
    };
    const file = stringArg('results') ?? `bench/results/audit-date-search-${out.date.slice(0, 10)}.json`;
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.error(`results: ${file}`);
  } finally {
    await db.close();
    if (!reuse && !process.argv.includes('--keep')) await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

await main();
