/**
 * Search-index values extracted from a resource. This is the contract between
 * extraction (src/fhir) and the index writer (src/store) / query compiler
 * (src/search). One value per matched element; `param` is the search parameter
 * code (e.g. "family"). Ranges are inclusive at both ends.
 */
export type IndexValue =
  | StringIndexValue
  | TokenIndexValue
  | DateIndexValue
  | ReferenceIndexValue
  | NumberIndexValue
  | QuantityIndexValue
  | UriIndexValue;

export interface StringIndexValue {
  type: 'string';
  param: string;
  /** The value as found (for :exact). */
  value: string;
}

export interface TokenIndexValue {
  type: 'token';
  param: string;
  system: string | null;
  code: string | null;
  /** Display / text for :text (CodeableConcept.text, Coding.display, Identifier.type.text). */
  text: string | null;
}

export interface DateIndexValue {
  type: 'date';
  param: string;
  /** ISO instant, inclusive lower bound (UTC, ms precision); null = unbounded. */
  low: string | null;
  /** ISO instant, inclusive upper bound (UTC, ms precision); null = unbounded. */
  high: string | null;
}

export interface ReferenceIndexValue {
  type: 'reference';
  param: string;
  /** For literal references to a resource: its type and id. */
  targetType: string | null;
  targetId: string | null;
  /** Absolute URL or canonical (with |version stripped into version) for non-local references. */
  url: string | null;
  /** Canonical version, if any. */
  version: string | null;
  /** Reference.identifier, for :identifier (future search issue). */
  identifierSystem: string | null;
  identifierValue: string | null;
}

export interface NumberIndexValue {
  type: 'number';
  param: string;
  /** Decimal as a string (exact), with its implicit precision range. */
  value: string;
  low: string;
  high: string;
}

export interface QuantityIndexValue {
  type: 'quantity';
  param: string;
  value: string;
  low: string;
  high: string;
  system: string | null;
  code: string | null;
  unit: string | null;
}

export interface UriIndexValue {
  type: 'uri';
  param: string;
  value: string;
}

export type SearchParamType =
  | 'number'
  | 'date'
  | 'string'
  | 'token'
  | 'reference'
  | 'composite'
  | 'quantity'
  | 'uri'
  | 'special';

/** A search parameter as Haven uses it (from a SearchParameter resource). */
export interface SearchParamDef {
  url: string;
  code: string;
  type: SearchParamType;
  /** Resource types this parameter applies to. */
  base: string[];
  /** FHIRPath expression (may cover several bases, joined by |). */
  expression: string | null;
  /** Allowed target types for references. */
  target: string[];
  /** Composite components (parameter url + sub-expression). */
  component: { definition: string; expression: string }[];
}

/** Lookup of search parameters per resource type. Implemented in src/fhir. */
export interface SearchParamRegistry {
  /** The parameter `code` as it applies to `resourceType` (or 'Resource'/'DomainResource' commons). */
  get(resourceType: string, code: string): SearchParamDef | undefined;
  /** All parameters that apply to a resource type. */
  forType(resourceType: string): SearchParamDef[];
}
