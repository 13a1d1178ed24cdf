/**
 * Search phase: the target searches (the core three plus _include,
 * _revinclude and a compartment search) with values drawn from the loaded
 * data, at concurrency 1 (latency) and 16 (throughput), plus EXPLAIN ANALYZE
 * of each compiled statement (include rounds too, protected values as the server's
 * blind-index tags) run directly on the database. A sequential scan
 * of `resource` or an `idx_*` table fails the benchmark.
 */
import type pg from 'pg';
import { createFhirDefinitions, type FhirDefinitions } from '../src/fhir/index.js';
import type { SearchQuery } from '../src/search/index.js';
import type { QueryBlinder } from './blind-tags.js';
import { statementsFor, type CompartmentRef } from './search-statements.js';
import type { DrawnValues } from './ingest.js';
import { runLoad, type HttpClient, type LoadResult } from './http-load.js';

export interface SearchSpec {
  name: string;
  resourceType: string;
  /** The i-th search's parameters. */
  params: (i: number) => [string, string][];
  /** Compartment search (`/fhir/Patient/{id}/Observation`): the i-th compartment. */
  compartment?: (i: number) => CompartmentRef;
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
    {
      name: 'observation-by-patient-include-subject-encounter',
      resourceType: 'Observation',
      params: (i) => [['patient', `Patient/${at(d.patientIds, i)}`], ['_include', 'Observation:subject'], ['_include', 'Observation:encounter']],
    },
    {
      name: 'patient-revinclude-encounters',
      resourceType: 'Patient',
      params: (i) => [['_id', at(d.patientIds, i)], ['_revinclude', 'Encounter:subject']],
    },
    {
      name: 'patient-compartment-observations-by-code',
      resourceType: 'Observation',
      compartment: (i) => ({ compartment: 'Patient', id: at(d.observationSearches, i).patient }),
      params: (i) => [['code', `http://loinc.org|${at(d.observationSearches, i).code}`]],
    },
    {
      name: 'observation-chained-patient-birthdate-and-code',
      resourceType: 'Observation',
      params: (i) => [['subject:Patient.birthdate', at(d.patientSearches, i).birthDate], ['code', `http://loinc.org|${at(d.observationSearches, i).code}`]],
    },
    {
      name: 'patient-has-observation-code-by-family',
      resourceType: 'Patient',
      params: (i) => [['family', at(d.patientSearches, i).family], ['_has:Observation:patient:code', `http://loinc.org|${at(d.observationSearches, i).code}`]],
    },
    {
      name: 'observation-composite-systolic-above',
      resourceType: 'Observation',
      // Systolic components above 195–204 mm[Hg]: the composite join driven by the quantity range.
      params: (i) => [['component-code-value-quantity', `http://loinc.org|8480-6$gt${195 + (i % 10)}|http://unitsofmeasure.org|mm[Hg]`]],
    },
  ];
}

/**
 * The first page of the i-th paged search (search-mixed.ts follows its next
 * links): a patient's observations five at a time, and encounters since a
 * date newest first, ten at a time.
 */
export function pagingFirstPage(d: DrawnValues): (i: number) => string {
  return (i) =>
    i % 2 === 0
      ? `/fhir/Observation?${new URLSearchParams({ patient: `Patient/${at(d.patientIds, i)}`, _count: '5' }).toString()}`
      : `/fhir/Encounter?${new URLSearchParams({ date: `ge${at(d.encounterDates, i)}`, _sort: '-date', _count: '10' }).toString()}`;
}

export function searchPath(s: SearchSpec, i: number): string {
  const c = s.compartment?.(i);
  const base = c ? `${c.compartment}/${c.id}/${s.resourceType}` : s.resourceType;
  return `/fhir/${base}?${new URLSearchParams(s.params(i)).toString()}`;
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
  /** Planning time of the statement: paid on every search, since the server does not prepare statements. */
  planningMs: number | null;
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

/** The statements the server runs for value `i` of search `s` (search-statements.ts), protected values as the blinder's tags. */
export function specStatements(db: pg.Client, fhir: FhirDefinitions, s: SearchSpec, i: number, blinder?: QueryBlinder, withEstimate = false): ReturnType<typeof statementsFor> {
  return statementsFor(db, {
    withEstimate,
    resourceType: s.resourceType,
    params: s.params(i),
    compartment: s.compartment?.(i) ?? null,
    registry: fhir.registry,
    compartmentParams: (c, t) => fhir.compartments.paramsFor(c, t),
    isResourceType: (t) => fhir.isResourceType(t),
    ...(blinder ? { blind: (q: SearchQuery) => blinder.blind(q) } : {}),
  });
}

/** EXPLAIN ANALYZE of `samples` values per search, each statement compiled exactly as the server compiles it. */
export async function explainSearches(db: pg.Client, searches: SearchSpec[], samples: number, blinder?: QueryBlinder): Promise<PlanCheck[]> {
  const fhir = createFhirDefinitions();
  const checks: PlanCheck[] = [];
  for (const s of searches) {
    for (let i = 0; i < samples; i++) {
      const statements = await specStatements(db, fhir, s, i, blinder);
      for (const { label, compiled } of statements) checks.push(await checkPlan(db, s, i, label, compiled));
    }
  }
  return checks;
}

/** EXPLAINs one statement; a sequential scan of `resource` or an `idx_*` table is recorded (and fails the run). */
async function checkPlan(db: pg.Client, s: SearchSpec, i: number, label: string, compiled: { sql: string; params: unknown[] }): Promise<PlanCheck> {
  const { raw, analyzed } = await explain(db, compiled.sql, compiled.params);
  const explained = (typeof raw === 'string' ? JSON.parse(raw) : raw) as [{ Plan: PlanNode; 'Execution Time'?: number; 'Planning Time'?: number }];
  const nodes: string[] = [];
  const seqScans: string[] = [];
  walk(explained[0].Plan, (n) => {
    const rel = n['Relation Name'];
    nodes.push([n['Node Type'], rel, n['Index Name']].filter(Boolean).join(' '));
    if (n['Node Type'] === 'Seq Scan' && rel && (rel === 'resource' || rel.startsWith('idx_'))) seqScans.push(rel);
  });
  const name = label === 'page' ? s.name : `${s.name} (${label})`;
  return { name, search: searchPath(s, i), analyzed, executionMs: explained[0]['Execution Time'] ?? null, planningMs: explained[0]['Planning Time'] ?? null, nodes, seqScans, plan: explained };
}
