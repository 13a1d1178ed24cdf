/**
 * The typed search query: what a FHIR search URL means once parsed, before it
 * becomes SQL. Parsing (parse.ts) validates everything; compiling (compile.ts)
 * trusts this shape and only turns it into SQL.
 */
import type { CompartmentFilter, CompartmentLimit } from './compartment.js';

export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
export const prefixes: readonly Prefix[] = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];

/** Supported modifiers; `type` is the `:[Type]` reference modifier. `of-type` is rewritten at parse time. */
export type Modifier =
  | 'exact' | 'contains' | 'missing' | 'not' | 'text' | 'type' | 'above' | 'below'
  | 'identifier' | 'in' | 'not-in' | 'of-type';

/** Which index table (or resource column) a criterion runs against. */
export type IndexKind = 'string' | 'token' | 'date' | 'reference' | 'number' | 'quantity' | 'uri';
/**
 * `chain` / `has` carry a nested criterion in `link`; `composite` carries
 * CompositeValues; `list` is `_list` (ids of List resources).
 */
export type CriterionKind = IndexKind | 'id' | 'lastUpdated' | 'chain' | 'has' | 'composite' | 'list';

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
  /** A UCUM search value in base units (value, low, end converted), matched against canon_*. */
  canonical?: { code: string; value: string; low: string; end: string };
}

/** Reference `:identifier` (system|value) or token `:in` / `:not-in` (a ValueSet url). */
export interface IdentifierValue {
  kind: 'identifier';
  system: string | null;
  value: string;
}

export interface ValueSetValue {
  kind: 'valueset';
  url: string;
  /**
   * The codes of an R4 core value set that is not stored on the server, set by the
   * search runner before compiling (src/store/search-valuesets.ts); absent: the stored ValueSet's rows.
   */
  expansion?: { systems: string[]; codes: string[] };
}

/** Token `:below` / `:above` (system|code) in a code system hierarchy stored on the server. */
export interface SubsumptionValue {
  kind: 'subsumption';
  direction: 'below' | 'above';
  system: string;
  code: string;
}

/** One component of a composite value: stored under `param` (`<code>$<index>`) in the `kind` table. */
export interface CompositePart {
  kind: IndexKind;
  param: string;
  value: SearchValue;
}

export interface CompositeValue {
  kind: 'composite';
  parts: CompositePart[];
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

/**
 * A blind-indexed value (blind-query.ts): the HMAC tag stored for it, as
 * `\x`-hex bytea input; tokens keep their system condition in plaintext.
 */
export interface BlindValue {
  kind: 'blind';
  tag: string;
  system: TokenValue['system'] | null;
  /** Column holding the plaintext system: idx_token.system, or idx_reference.identifier_system for `:identifier`. */
  systemColumn: 'system' | 'identifier_system';
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
  | MissingValue
  | BlindValue
  | IdentifierValue
  | ValueSetValue
  | SubsumptionValue
  | CompositeValue;

/** One search parameter occurrence: its values are OR-ed; criteria are AND-ed. */
export interface Criterion {
  /** Search parameter code (e.g. "family", "_id"). */
  param: string;
  kind: CriterionKind;
  modifier: Modifier | null;
  values: SearchValue[];
  /**
   * chain: `param` is a reference on this type whose `targetType` targets must match `inner`.
   * has: `param` is a reference on `targetType` (the referring type) whose resources must match `inner`.
   */
  link?: { targetType: string; inner: Criterion };
  /**
   * chain without `:[type]` whose parameter targets several types that all have the next
   * parameter with the same meaning (`Observation?subject.identifier=…`: Patient, Group, Device,
   * Location): the same condition on each of the other types; a target matching any of them counts.
   */
  otherLinks?: { targetType: string; inner: Criterion }[];
  /**
   * The parameters whose index rows answer this criterion, when `param`'s own
   * rows are not all of them:
   * - a union of other parameters (src/fhir/union-params.ts, Observation
   *   `combo-code`): its sources, since it has no rows of its own;
   * - a blind-indexed string parameter: `param` first, then the narrower
   *   parameters that hold some of its tags in its stead (protected-params.ts blindCover).
   */
  rowParams?: readonly string[];
  /**
   * A composite whose group is the whole resource (src/fhir/resource-composites.ts,
   * Observation `code-value-quantity`): per parameter in `rowParams ?? [param]`
   * that has no component rows of its own, the parameter holding each
   * component's rows, by component index. They are joined per resource, not per group.
   */
  componentRows?: Readonly<Record<string, readonly string[]>>;
  /**
   * A reference parameter's one target type, when it has exactly one
   * (Observation `patient`: Patient): a bare id then names a resource of that
   * type (src/search/patient-token.ts).
   */
  onlyTarget?: string;
}

export type SortKind = IndexKind | 'id' | 'lastUpdated';

export interface SortKey {
  param: string;
  kind: SortKind;
  descending: boolean;
  /** As Criterion.rowParams: a union parameter's sources, whose rows give its values. */
  rowParams?: readonly string[];
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
  /** Compartment search (`Patient/123/Observation`): an extra condition, see compartment.ts. */
  compartment?: CompartmentFilter;
  /** A second compartment every match must also lie in (AND): the token's patient's, when a patient-context token searches another compartment. */
  alsoIn?: CompartmentFilter;
  /** Access-policy restriction: OR of groups, each an AND of criteria (docs/security/identity.md, Access policies). */
  restrict?: Criterion[][];
  /** The caller sees only this compartment: chains, `_has` and `_list` match only linked resources inside it. */
  within?: CompartmentLimit;
}
