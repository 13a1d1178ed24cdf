/**
 * Parameters that shape which resources a search covers rather than which
 * match: `_include`/`_revinclude` (include-parse.ts), `_type` (system-level
 * search) and `_contained`/`_containedType`. They are taken out before the
 * criteria are parsed.
 */
import { invalidValue } from './parse-values.js';
import { isIncludeParam } from './include-parse.js';

/** `_contained` (R4): whether matches are resources of their own (false), contained ones (true), or both. */
export type ContainedMode = 'false' | 'true' | 'both';
/** `_containedType` (R4): a contained match is returned as its container, or alone. */
export type ContainedType = 'container' | 'contained';

export interface SpecialParams {
  includes: [string, string][];
  /** `_type` values (system-level search), or null when absent. */
  types: string[] | null;
  contained: ContainedMode;
  containedType: ContainedType;
  /** Everything else, in order. */
  rest: [string, string][];
}

function containedMode(value: string): ContainedMode {
  if (value === 'false' || value === 'true' || value === 'both') return value;
  throw invalidValue('_contained', 'expected true, false or both');
}

function containedType(value: string): ContainedType {
  if (value === 'container' || value === 'contained') return value;
  throw invalidValue('_containedType', 'expected container or contained');
}

export function takeSpecialParams(params: readonly [string, string][]): SpecialParams {
  const out: SpecialParams = { includes: [], types: null, contained: 'false', containedType: 'container', rest: [] };
  for (const [name, value] of params) {
    if (isIncludeParam(name)) {
      if (value !== '') out.includes.push([name, value]);
    } else if (name === '_type') {
      if (value !== '') out.types = [...(out.types ?? []), ...value.split(',').map((t) => t.trim()).filter((t) => t !== '')];
    } else if (name === '_contained') {
      if (value !== '') out.contained = containedMode(value);
    } else if (name === '_containedType') {
      if (value !== '') out.containedType = containedType(value);
    } else {
      out.rest.push([name, value]);
    }
  }
  return out;
}
