/**
 * AuditEvent search by agent, by entity or for failures with and without the batches' column for it
 * (migrations 040 agent_ids, 041 entity_ids, 045 failed):
 *   node dist/bench/audit-column-search.js [--column agent|entity|failed] [--entries N] [--failure-every N] [--rounds R] [--keep] [--results FILE]
 * `--failure-every N`: about one access in N fails (default 50, the fixture's mix; failures are the rarer
 * the larger N, and the flag narrows a search for them the more).
 * Builds a log of N entries (default 1,000,000; bench/audit-log-fixture.ts: 500 users, 40 client
 * applications, reads, searches and writes of 200,000 patients' resources, 16 entries per batch) in a
 * fresh database `haven_column_bench` on DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 * The fixture writes each batch's columns as the insert path does: the searches are timed so
 * ("indexed"); then the column is cleared, as batches from before its migration have none, and they
 * are timed again ("legacy"). Each search is the API's own (compileAuditSearch + runAuditSearch), run
 * R times (default 3, median reported); both states must return the same entries and totals.
 * Writes bench/results/audit-<column>-search-<date>.json.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { adminQuery } from './pg-admin.js';
import { createDb, migrate, type Db } from '../src/store/index.js';
import { withDatabase } from '../test/support/db.js';
import { buildAuditLogFixture } from './audit-log-fixture.js';
import { sameResults, timeSearches, type Searches } from './audit-search-timing.js';
import { machineFacts } from './machine.js';
import { positiveArg, stringArg } from './options.js';

const DATABASE = 'haven_column_bench';


const AGENT_SEARCHES: Searches = [
  ['one user, first page', [['agent', 'user-7']]],
  ['one user, accurate total', [['agent', 'user-7'], ['_total', 'accurate']]],
  ['one application, first page', [['agent', 'client-3']]],
  ['an agent with no entries', [['agent', 'nobody']]],
  ['one user since a date', [['agent', 'user-7'], ['date', 'ge2000-01-01']]],
];

/** `seen` is a resource the log names (taken from its middle), as an auditor would ask about. */
const entitySearches = (seen: string): Searches => [
  ['one resource, first page', [['entity', seen]]],
  ['one resource, accurate total', [['entity', seen], ['_total', 'accurate']]],
  ['one resource since a date', [['entity', seen], ['date', 'ge2000-01-01']]],
  ['a resource never accessed', [['entity', 'Observation/never-accessed']]],
  ['one resource or one never accessed', [['entity', `${seen},Observation/never-accessed`]]],
];

const FAILURE_SEARCHES: Searches = [
  ['failures, first page', [['outcome', '8']]],
  ['failures, accurate total', [['outcome', '8'], ['_total', 'accurate']]],
  ["one user's failures", [['outcome', '4,8'], ['agent', 'user-7']]],
  ['failures since a date', [['outcome', '8'], ['date', 'ge2000-01-01']]],
];

/** Batches as written before the column's migration: NULL (the append-only trigger is lifted for it). */
async function clearColumn(db: Db, column: 'agent' | 'entity' | 'failed'): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query('ALTER TABLE audit_batch DISABLE TRIGGER audit_batch_append_only');
    await tx.query(`UPDATE audit_batch SET ${column === 'failed' ? 'failed' : `${column}_ids`} = NULL`);
    await tx.query('ALTER TABLE audit_batch ENABLE TRIGGER audit_batch_append_only');
  });
  await db.query('VACUUM ANALYZE audit_batch');
}

async function entityInTheMiddle(db: Db): Promise<string> {
  const res = await db.query<{ e: string }>(
    `SELECT entity_ids[1] AS e FROM audit_batch WHERE batch_id >= (SELECT (min(batch_id) + max(batch_id)) / 2 FROM audit_batch) AND cardinality(entity_ids) > 0 ORDER BY batch_id LIMIT 1`,
  );
  return res.rows[0]!.e;
}

async function main(): Promise<void> {
  const entries = positiveArg('entries', 1_000_000);
  const rounds = positiveArg('rounds', 3);
  const column = stringArg('column') ?? 'agent';
  if (column !== 'agent' && column !== 'entity' && column !== 'failed') throw new Error('--column is agent, entity or failed');
  const failureEvery = positiveArg('failure-every', 50);
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const resultsArg = process.argv.indexOf('--results');
  await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await adminQuery(serverUrl, `CREATE DATABASE ${DATABASE}`);
  const db = createDb({ connectionString: withDatabase(serverUrl, DATABASE), maxConnections: 4 });
  try {
    await migrate(db);
    const fixture = await buildAuditLogFixture(db, { entries, headEvery: 50_000, failureEvery });
    const flagged = (await db.query<{ n: string }>('SELECT count(*) FILTER (WHERE failed) AS n FROM audit_batch')).rows[0]!.n;
    await db.query('VACUUM ANALYZE audit_batch');
    const tenant = (await db.query<{ t: string }>('SELECT tenant_id AS t FROM audit_batch LIMIT 1')).rows[0]!.t;
    const searches = column === 'agent' ? AGENT_SEARCHES : column === 'failed' ? FAILURE_SEARCHES : entitySearches(await entityInTheMiddle(db));
    const indexed = await timeSearches(db, tenant, searches, rounds);
    await clearColumn(db, column);
    const legacy = await timeSearches(db, tenant, searches, rounds);
    const differs = sameResults(legacy, indexed);
    if (differs) throw new Error(`${differs}: the two states disagree`);
    const out = {
      benchmark: `audit-${column}-search`,
      date: new Date().toISOString(),
      machine: machineFacts(),
      entries,
      batches: Math.ceil(entries / 16),
      failureEvery,
      batchesHoldingAFailure: Number(flagged),
      fixture,
      rounds,
      loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
      searches: legacy.map((a, i) => ({ name: a.name, query: a.query, legacyMs: a.medianMs, indexedMs: indexed[i]!.medianMs, entries: a.entries, ...(a.total !== undefined ? { total: a.total } : {}) })),
      legacy,
      indexed,
    };
    const file = resultsArg > 0 ? process.argv[resultsArg + 1]! : `bench/results/audit-${column}-search-${out.date.slice(0, 10)}.json`;
    writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
    console.error(`results: ${file}`);
  } finally {
    await db.close();
    if (!process.argv.includes('--keep')) await adminQuery(serverUrl, `DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  }
}

await main();
