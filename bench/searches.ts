/**
 * Search phase: the three target searches with values drawn from the loaded
 * data, at concurrency 1 (latency) and 16 (throughput), plus EXPLAIN ANALYZE
 * of each compiled statement run directly on the database. A sequential scan
 * of `resource` or an `idx_*` table fails the benchmark.
 */
import type pg from 'pg';
import { createFhirDefinitions } from '../src/fhir/index.js';
import { compileSearch, parseSearch } from '../src/search/index.js';
import type { DrawnValues } from './ingest.js';
import { runLoad, type HttpClient, type LoadResult } from './http-load.js';

export interface SearchSpec {
  name: string;
  resourceType: string;
  /** The i-th search's parameters. */
  params: (i: number) => [string, string][];
}

function at<T>(items: T[], i: number): T {
  // A stride co-prime with most list sizes spreads consecutive requests over the data.
  const item = items[(i * 7919) % items.length];
  if (item === undefined) throw new Error('no values drawn for a search');
  return item;
}

export function targetSearches(d: DrawnValues): SearchSpec[] {
  return [
    {
      name: 'observation-by-patient-and-code',
      resourceType: 'Observation',
      params: (i) => {
        const v = at(d.observationSearches, i);
        return [['patient', `Patient/${v.patient}`], ['code', `http://loinc.org|${v.code}`]];
      },
    },
    {
      name: 'patient-by-family-and-birthdate',
      resourceType: 'Patient',
      params: (i) => {
        const v = at(d.patientSearches, i);
        // Half exact days, half year-month prefixes (a range search on the date index).
        return [['family', v.family], ['birthdate', i % 2 === 0 ? v.birthDate : v.birthDate.slice(0, 7)]];
      },
    },
    {
      name: 'encounter-since-date-sorted',
      resourceType: 'Encounter',
      params: (i) => [['date', `ge${at(d.encounterDates, i)}`], ['_sort', '-date']],
    },
  ];
}

export function searchPath(s: SearchSpec, i: number): string {
  return `/fhir/${s.resourceType}?${new URLSearchParams(s.params(i)).toString()}`;
}

export interface SearchLoad {
  name: string;
  example: string;
  c1: LoadResult;
  c16: LoadResult;
}

export async function runSearchLoads(client: HttpClient, searches: SearchSpec[], seconds: number, log: (m: string) => void): Promise<SearchLoad[]> {
  const out: SearchLoad[] = [];
  for (const s of searches) {
    const path = (i: number) => searchPath(s, i);
    const c1 = await runLoad({ client, concurrency: 1, seconds, maxRequests: 200_000, path });
    const c16 = await runLoad({ client, concurrency: 16, seconds, maxRequests: 1_000_000, path });
    log(`${s.name}: c1 p50 ${c1.latency.p50Ms} ms p99 ${c1.latency.p99Ms} ms; c16 ${c16.perSecond}/s (${c1.errors + c16.errors} errors)`);
    out.push({ name: s.name, example: searchPath(s, 0), c1, c16 });
  }
  return out;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

export interface PlanCheck {
  name: string;
  search: string;
  /** False when EXPLAIN ANALYZE hit the statement timeout and the plan is the planner's estimate only. */
  analyzed: boolean;
  executionMs: number | null;
  /** Node type, with relation and index where there is one, in plan order. */
  nodes: string[];
  seqScans: string[];
  plan: unknown;
}

function walk(node: PlanNode, visit: (n: PlanNode) => void): void {
  visit(node);
  for (const child of node.Plans ?? []) walk(child, visit);
}

const EXPLAIN_TIMEOUT_MS = 30_000;

/** EXPLAIN ANALYZE, or plain EXPLAIN when the statement runs longer than the timeout (the plan is still checked). */
async function explain(db: pg.Client, sql: string, params: unknown[]): Promise<{ raw: unknown; analyzed: boolean }> {
  await db.query(`SET statement_timeout = ${EXPLAIN_TIMEOUT_MS}`);
  try {
    const res = await db.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`, params);
    return { raw: res.rows[0]?.['QUERY PLAN'] as unknown, analyzed: true };
  } catch (err) {
    if ((err as { code?: string }).code !== '57014') throw err;
    const res = await db.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
    return { raw: res.rows[0]?.['QUERY PLAN'] as unknown, analyzed: false };
  } finally {
    await db.query('SET statement_timeout = 0');
  }
}

/** EXPLAIN ANALYZE of `samples` values per search, each compiled exactly as the server compiles it. */
export async function explainSearches(db: pg.Client, searches: SearchSpec[], samples: number): Promise<PlanCheck[]> {
  const registry = createFhirDefinitions().registry;
  const checks: PlanCheck[] = [];
  for (const s of searches) {
    for (let i = 0; i < samples; i++) {
      const { sql, params } = compileSearch(parseSearch(s.resourceType, s.params(i), registry), 'default');
      const { raw, analyzed } = await explain(db, sql, params);
      const explained = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: PlanNode; 'Execution Time'?: number }];
      const nodes: string[] = [];
      const seqScans: string[] = [];
      walk(explained[0].Plan, (n) => {
        const rel = n['Relation Name'];
        nodes.push([n['Node Type'], rel, n['Index Name']].filter(Boolean).join(' '));
        if (n['Node Type'] === 'Seq Scan' && rel && (rel === 'resource' || rel.startsWith('idx_'))) seqScans.push(rel);
      });
      checks.push({ name: s.name, search: searchPath(s, i), analyzed, executionMs: explained[0]['Execution Time'] ?? null, nodes, seqScans, plan: explained });
    }
  }
  return checks;
}
