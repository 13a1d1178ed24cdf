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

/**
 * Composite parameters (docs/adr/0003-composite-search.md): each component value
 * is stored under `<composite code>$<component index>` with `group` naming the
 * element instance (e.g. which Observation.component) it came from.
 */
interface Grouped {
  group?: number;
}

export interface StringIndexValue extends Grouped {
  type: 'string';
  param: string;
  /** The value as found (for :exact). */
  value: string;
}

export interface TokenIndexValue extends Grouped {
  type: 'token';
  param: string;
  system: string | null;
  code: string | null;
  /** Display / text for :text (CodeableConcept.text, Coding.display, Identifier.type.text). */
  text: string | null;
}

export interface DateIndexValue extends Grouped {
  type: 'date';
  param: string;
  /** ISO instant, inclusive lower bound (UTC, ms precision); null = unbounded. */
  low: string | null;
  /** ISO instant, inclusive upper bound (UTC, ms precision); null = unbounded. */
  high: string | null;
}

export interface ReferenceIndexValue extends Grouped {
  type: 'reference';
  param: string;
  /** For literal references to a resource: its type and id. */
  targetType: string | null;
  targetId: string | null;
  /** Absolute URL or canonical (with |version stripped into version) for non-local references. */
  url: string | null;
  /** Canonical version, if any. */
  version: string | null;
  /** Reference.identifier, for :identifier. */
  identifierSystem: string | null;
  identifierValue: string | null;
}

export interface NumberIndexValue extends Grouped {
  type: 'number';
  param: string;
  /** Decimal as a string (exact), with its implicit precision range. */
  value: string;
  low: string;
  high: string;
}

export interface QuantityIndexValue extends Grouped {
  type: 'quantity';
  param: string;
  value: string;
  low: string;
  high: string;
  system: string | null;
  code: string | null;
  unit: string | null;
  /** UCUM quantities converted to base units (src/fhir/ucum.ts); absent otherwise. */
  canonValue?: string | null;
  canonCode?: string | null;
}

export interface UriIndexValue extends Grouped {
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
  /** A parameter by canonical url, for composite components; without it composites are refused. */
  byUrl?(url: string): SearchParamDef | undefined;
  /** The parameters whose index rows answer for `code`, when it has none of its own (src/fhir/union-params.ts). */
  rowParams?(resourceType: string, code: string): readonly string[] | undefined;
  /** A whole-resource composite's component parameters, whose rows answer for it (src/fhir/resource-composites.ts). */
  componentRows?(resourceType: string, code: string): readonly string[] | undefined;
  /** The one type a reference parameter's rows can target on `resourceType`, when there is one. */
  onlyTarget?(resourceType: string, code: string): string | undefined;
}
