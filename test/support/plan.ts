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
export async function planNodes(q: Queryable, sql: string, params: unknown[]): Promise<PlanNode[]> {
  const res = await q.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
  const out: PlanNode[] = [];
  const walk = (n: PlanNode): void => {
    out.push(n);
    for (const child of n.Plans ?? []) walk(child);
  };
  walk(res.rows[0]!['QUERY PLAN'][0].Plan);
  return out;
}
