import type { Queryable } from '../../src/store/index.js';

/** One node of an `EXPLAIN (FORMAT JSON)` plan, with the fields the plan tests read. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

/** Every node of the plan PostgreSQL makes for `sql` with `params` (not executed), depth first. */
export function planNodes(q: Queryable, sql: string, params: unknown[]): Promise<PlanNode[]> {
  return explainedNodes<PlanNode>(q, 'FORMAT JSON', sql, params);
}

/** One node of an executed plan (`EXPLAIN (ANALYZE, FORMAT JSON)`), with the row counts. */
export interface AnalyzedNode extends PlanNode {
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  /** Index-only scans: table rows visited because the visibility map did not cover their page. */
  'Heap Fetches'?: number;
  Plans?: AnalyzedNode[];
}

/** Every node of the plan of `sql` with `params` as PostgreSQL executed it, depth first. */
export function analyzedNodes(q: Queryable, sql: string, params: unknown[]): Promise<AnalyzedNode[]> {
  return explainedNodes<AnalyzedNode>(q, 'ANALYZE, FORMAT JSON', sql, params);
}

async function explainedNodes<N extends PlanNode>(q: Queryable, options: string, sql: string, params: unknown[]): Promise<N[]> {
  const res = await q.query<{ 'QUERY PLAN': [{ Plan: N }] }>(`EXPLAIN (${options}) ${sql}`, params);
  const out: N[] = [];
  const walk = (n: N): void => {
    out.push(n);
    for (const child of (n.Plans ?? []) as N[]) walk(child);
  };
  walk(res.rows[0]!['QUERY PLAN'][0].Plan);
  return out;
}

/** Rows a node read from its relation: those it returned and those its filters removed, over all its loops. */
export function rowsRead(n: AnalyzedNode): number {
  return (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0) + (n['Rows Removed by Index Recheck'] ?? 0)) * n['Actual Loops'];
}
