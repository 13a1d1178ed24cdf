/**
 * Coverage of the search conformance suite: parameter types × modifiers ×
 * prefixes, counted from the queries the suite actually ran. Run the suite
 * with SEARCH_COVERAGE_FILE=<file> (conformance-fixture.ts appends every
 * query), then:
 *   node dist/test/search/coverage-report.js <file>
 * Prints one line per (type, modifier) and per (type, prefix) with its case
 * count, and lists the cells of the R4 matrix the suite never exercised.
 */
import { readFileSync } from 'node:fs';
import { createFhirDefinitions } from '../../src/fhir/index.js';
import { parseSearch } from '../../src/search/index.js';
import { prefixes } from '../../src/search/query.js';
import type { Criterion } from '../../src/search/index.js';

/** R4 §3.1.1.5: the modifiers each parameter type takes (those Haven supports). */
const matrix: Record<string, string[]> = {
  string: ['none', 'exact', 'contains', 'missing'],
  token: ['none', 'text', 'not', 'above', 'below', 'in', 'not-in', 'of-type', 'missing'],
  date: ['none', 'missing'],
  number: ['none', 'missing'],
  quantity: ['none', 'missing'],
  reference: ['none', 'type', 'identifier', 'missing', 'chain', 'has'],
  uri: ['none', 'above', 'below', 'missing'],
  composite: ['none'],
};
const prefixed = new Set(['date', 'number', 'quantity']);

interface Cell {
  type: string;
  modifier: string;
  prefix?: string;
}

function typeOf(c: Criterion): string {
  if (c.kind === 'id') return 'token';
  if (c.kind === 'lastUpdated') return 'date';
  if (c.kind === 'list') return 'special';
  if (c.kind === 'chain' || c.kind === 'has') return 'reference';
  return c.kind;
}

/** The cells one criterion exercises (a chain or _has also exercises its inner criterion). */
function cellsOf(c: Criterion, raw: string): Cell[] {
  const type = typeOf(c);
  const modifier = c.kind === 'chain' ? 'chain' : c.kind === 'has' ? 'has' : raw.includes(':of-type') ? 'of-type' : (c.modifier ?? 'none');
  const out: Cell[] = [{ type, modifier }];
  for (const v of c.values) {
    if ('prefix' in v && prefixed.has(type)) out.push({ type, modifier: 'prefix', prefix: v.prefix });
    if (v.kind === 'composite') for (const part of v.parts) if ('prefix' in part.value) out.push({ type: 'composite', modifier: 'prefix', prefix: part.value.prefix });
  }
  if (c.link) out.push(...cellsOf(c.link.inner, ''));
  return out;
}

function main(): void {
  const file = process.argv[2];
  if (!file) throw new Error('usage: coverage-report <SEARCH_COVERAGE_FILE>');
  const fhir = createFhirDefinitions();
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const counts = new Map<string, number>();
  let errors = 0;
  const bump = (key: string) => counts.set(key, (counts.get(key) ?? 0) + 1);
  for (const line of lines) {
    const { type, query } = JSON.parse(line) as { type: string; query: string };
    // `_contained` shapes which resources are searched (system-params.ts), not a criterion: counted on its own.
    const all = [...new URLSearchParams(query)];
    const params = all.filter(([k]) => k !== '_contained' && k !== '_containedType');
    if (params.length < all.length) bump('special _contained');
    let criteria: Criterion[];
    try {
      criteria = parseSearch(type, params, fhir.registry, { strict: true }).criteria;
    } catch {
      errors++;
      continue;
    }
    const cells = new Set<string>();
    criteria.forEach((c, i) => cellsOf(c, params[i]?.[0] ?? '').forEach((cell) => cells.add(cell.prefix ? `${cell.type} prefix ${cell.prefix}` : `${cell.type} :${cell.modifier}`)));
    cells.forEach(bump);
  }
  console.log(`cases (queries with an expected result): ${lines.length}, of which rejected as invalid: ${errors}`);
  const gaps: string[] = [];
  for (const [type, modifiers] of Object.entries(matrix)) {
    const row = modifiers.map((m) => `:${m} ${counts.get(`${type} :${m}`) ?? 0}`);
    if (prefixed.has(type) || type === 'composite') row.push(...prefixes.map((p) => `${p} ${counts.get(`${type} prefix ${p}`) ?? 0}`));
    console.log(`| ${type} | ${row.join(' | ')} |`);
    for (const cell of row) if (cell.endsWith(' 0')) gaps.push(`${type} ${cell.slice(0, -2)}`);
  }
  console.log(`| special | _list ${counts.get('special :none') ?? 0} | _contained ${counts.get('special _contained') ?? 0} |`);
  console.log(gaps.length === 0 ? 'no gaps' : `gaps: ${gaps.join(', ')}`);
}

main();
