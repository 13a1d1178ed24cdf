/**
 * FHIR R4 search parameters → a typed SearchQuery. Repeating a name ANDs,
 * commas OR (R4 §3.1.1.5.4). Criterion names (chains, _has, modifiers) are
 * resolved in parse-link.ts.
 */
import type { SearchParamRegistry } from '../fhir/index.js';
import { normalizeString } from '../fhir/index.js';
import { parseNamed, unknownParam } from './parse-link.js';
import { invalidValue } from './parse-values.js';
import { parseSort } from './parse-sort.js';
import type { Criterion, SearchQuery, SummaryMode, TotalMode } from './query.js';

export interface ParseOptions {
  /** `Prefer: handling=strict`: unknown parameters are an error instead of being ignored. */
  strict?: boolean;
  /** Page size when `_count` is absent (default 20). */
  defaultCount?: number;
  /** Largest page size; a larger `_count` is lowered to it (default 1000). */
  maxCount?: number;
  /** `_total` when absent (default 'none': counting is not free). */
  defaultTotal?: TotalMode;
  /** Must match what the index writer stored in value_norm / text_norm (default: the fhir normalizeString). */
  normalize?: (s: string) => string;
  /** For the `ap` prefix on dates. */
  now?: () => Date;
}

/** Result parameters with no effect on the selection, accepted and ignored. */
const ignored = new Set(['_format', '_pretty']);
const totals: readonly TotalMode[] = ['none', 'estimate', 'accurate'];
const summaries: readonly SummaryMode[] = ['true', 'text', 'data', 'count', 'false'];

function nonNegativeInt(name: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) throw invalidValue(name, 'expected a non-negative integer');
  return Number(value);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw invalidValue(name, `expected one of ${allowed.join(', ')}`);
  return value as T;
}

type Result = Omit<SearchQuery, 'resourceType' | 'criteria' | 'unknown' | 'count' | 'total'> & {
  count?: number;
  total?: TotalMode;
};

/** Handles a result parameter; returns false when `name` is not one. */
function applyResultParam(
  out: Result,
  name: string,
  value: string,
  resourceType: string,
  registry: SearchParamRegistry,
): boolean {
  switch (name) {
    case '_count':
      out.count = nonNegativeInt(name, value);
      return true;
    case '_offset':
      out.offset = nonNegativeInt(name, value);
      return true;
    case '_total':
      out.total = oneOf(name, value, totals);
      return true;
    case '_summary':
      out.summary = oneOf(name, value, summaries);
      return true;
    case '_elements':
      out.elements = value.split(',').map((e) => e.trim()).filter((e) => e !== '');
      return true;
    case '_sort':
      out.sort = [...out.sort, ...parseSort(value, resourceType, registry)];
      return true;
    default:
      return false;
  }
}

export function parseSearch(
  resourceType: string,
  params: [string, string][],
  registry: SearchParamRegistry,
  options: ParseOptions = {},
): SearchQuery {
  const ctx = { normalize: options.normalize ?? normalizeString, now: options.now ?? (() => new Date()) };
  const result: Result = { sort: [], offset: 0 };
  const criteria: Criterion[] = [];
  const unknown: string[] = [];
  for (const [rawName, value] of params) {
    // R4: a parameter without a value is ignored.
    if (value === '' || ignored.has(rawName)) continue;
    // Every way in (URL, form, If-None-Exist, Bundle entry URLs, conditional references, policy
    // criteria) comes through here; PostgreSQL text cannot hold U+0000, so it would fail as a 500.
    if (value.includes('\u0000') || rawName.includes('\u0000')) throw invalidValue(rawName.replaceAll('\u0000', '\\0'), 'holds the character U+0000 (NUL), which no search value may contain');
    if (applyResultParam(result, rawName, value, resourceType, registry)) continue;
    const criterion = parseNamed(resourceType, rawName, value, registry, ctx);
    if (criterion === null) {
      if (options.strict) throw unknownParam(rawName);
      unknown.push(rawName);
      continue;
    }
    criteria.push(criterion);
  }
  const maxCount = options.maxCount ?? 1000;
  const summary = result.summary;
  return {
    resourceType,
    criteria,
    sort: result.sort,
    count: Math.min(result.count ?? options.defaultCount ?? 20, maxCount),
    offset: result.offset,
    total: result.total ?? (summary === 'count' ? 'accurate' : (options.defaultTotal ?? 'none')),
    ...(summary === undefined ? {} : { summary }),
    ...(result.elements === undefined ? {} : { elements: result.elements }),
    unknown,
  };
}
