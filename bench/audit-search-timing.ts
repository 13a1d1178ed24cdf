/**
 * Times AuditEvent searches the way the API runs them (compileAuditSearch +
 * runAuditSearch), for the audit search benchmarks (audit-column-search.ts,
 * audit-date-search.ts). `code` may be another compiled tree's query module,
 * to time an earlier build's searches on the same log.
 */
import * as thisQuery from '../src/audit/query.js';
import type { Db } from '../src/store/index.js';

export type QueryModule = Pick<typeof thisQuery, 'compileAuditSearch' | 'runAuditSearch'>;
export type Searches = [string, [string, string][]][];

export interface Timed {
  name: string;
  query: string;
  medianMs: number;
  runsMs: number[];
  entries: number;
  total?: number;
  firstEntryId?: string;
}

/** Each search `rounds` times in a row; the median and every run, with what the last run returned. */
export async function timeSearches(db: Db, tenant: string, searches: Searches, rounds: number, code: QueryModule = thisQuery): Promise<Timed[]> {
  const out: Timed[] = [];
  for (const [name, query] of searches) {
    const runs: number[] = [];
    let page: Awaited<ReturnType<typeof thisQuery.runAuditSearch>> | undefined;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      page = await code.runAuditSearch(db, code.compileAuditSearch(tenant, query), query);
      runs.push(Math.round((performance.now() - t) * 10) / 10);
    }
    const median = [...runs].sort((a, b) => a - b)[Math.floor(runs.length / 2)]!;
    out.push({
      name,
      query: query.map(([k, v]) => `${k}=${v}`).join('&'),
      medianMs: median,
      runsMs: runs,
      entries: page!.entries.length,
      ...(page!.total !== undefined ? { total: page!.total } : {}),
      ...(page!.entries[0] ? { firstEntryId: String(page!.entries[0].entryId) } : {}),
    });
    console.error(`${name}: ${median} ms`);
  }
  return out;
}

/** Whether two timings of the same searches returned the same pages (and totals). */
export function sameResults(a: Timed[], b: Timed[]): string | undefined {
  for (const [i, x] of a.entries()) {
    const y = b[i]!;
    if (x.entries !== y.entries || x.total !== y.total || x.firstEntryId !== y.firstEntryId) return x.name;
  }
  return undefined;
}
