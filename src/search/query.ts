/**
 * The typed search query: what a FHIR search URL means once parsed, before it
 * becomes SQL. Parsing (parse.ts) validates everything; compiling (compile.ts)
 * trusts this shape and only turns it into SQL.
 */

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
export const prefixes: readonly Prefix[] = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];

/** Modifiers this foundation supports; `type` is the `:[Type]` reference modifier. */
export type Modifier = 'exact' | 'contains' | 'missing' | 'not' | 'text' | 'type' | 'above' | 'below';

/** Which index table (or resource column) a criterion runs against. */
export type IndexKind = 'string' | 'token' | 'date' | 'reference' | 'number' | 'quantity' | 'uri';
export type CriterionKind = IndexKind | 'id' | 'lastUpdated';

export interface StringValue {
  kind: 'string';
  /** As given (unescaped), for :exact. */
  value: string;
  /** Normalized like idx_string.value_norm, for starts-with and :contains. */
  norm: string;
}

/**
 * Token value. `system`: 'any' (`code`), 'none' (`|code`: no system), or a
 * system URI (`system|code`, `system|` → code null meaning any code).
 */
export interface TokenValue {
  kind: 'token';
  system: { match: 'any' } | { match: 'none' } | { match: 'equals'; value: string };
  code: string | null;
}

/** Token :text — starts-with on the normalized display/text. */
export interface TextValue {
  kind: 'text';
  norm: string;
}

/** A date search value: half-open instant range [low, end) in ISO UTC. */
export interface DateValue {
  kind: 'date';
  prefix: Prefix;
  low: string;
  end: string;
}

/** A number: exact decimal plus its implicit precision range [low, end). */
export interface NumberValue {
  kind: 'number';
  prefix: Prefix;
  value: string;
  low: string;
  end: string;
}

export interface QuantityValue extends Omit<NumberValue, 'kind'> {
  kind: 'quantity';
  system: string | null;
  /** Unit code; matched against code, or against code or unit when no system is given. */
  code: string | null;
}

export interface ReferenceValue {
  kind: 'reference';
  targetType: string | null;
  id: string | null;
  url: string | null;
  version: string | null;
}

export interface UriValue {
  kind: 'uri';
  value: string;
}

export interface MissingValue {
  kind: 'missing';
  missing: boolean;
}

export type SearchValue =
  | StringValue
  | TokenValue
  | TextValue
  | DateValue
  | NumberValue
  | QuantityValue
  | ReferenceValue
  | UriValue
  | MissingValue;

/** One search parameter occurrence: its values are OR-ed; criteria are AND-ed. */
export interface Criterion {
  /** Search parameter code (e.g. "family", "_id"). */
  param: string;
  kind: CriterionKind;
  modifier: Modifier | null;
  values: SearchValue[];
}

export type SortKind = IndexKind | 'id' | 'lastUpdated';

export interface SortKey {
  param: string;
  kind: SortKind;
  descending: boolean;
}

export type TotalMode = 'none' | 'estimate' | 'accurate';
export type SummaryMode = 'true' | 'text' | 'data' | 'count' | 'false';

export interface SearchQuery {
  resourceType: string;
  criteria: Criterion[];
  sort: SortKey[];
  count: number;
  offset: number;
  total: TotalMode;
  summary?: SummaryMode;
  elements?: string[];
  /** Parameters ignored because they are unknown (lenient handling). */
  unknown: string[];
}
