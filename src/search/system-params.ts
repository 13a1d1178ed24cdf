/**
 * Parameters that shape which resources a search covers rather than which
 * match: `_include`/`_revinclude` (include-parse.ts), `_type` (system-level
 * search) and `_contained`/`_containedType`. They are taken out before the
 * criteria are parsed.
 */
import { unsupportedParam } from './parse-criterion.js';
import { invalidValue } from './parse-values.js';
import { isIncludeParam } from './include-parse.js';

export interface SpecialParams {
  includes: [string, string][];
  /** `_type` values (system-level search), or null when absent. */
  types: string[] | null;
  /** Everything else, in order. */
  rest: [string, string][];
}

// Contained resources are not indexed on their own (the index writer indexes
// the container's own elements), so `_contained=true|both` cannot be answered
// correctly; refusing is better than silently returning containers.
function checkContained(name: string, value: string): void {
  if (name === '_contained') {
    if (value === 'false') return;
    if (value === 'true' || value === 'both') throw unsupportedParam('_contained', 'contained resources are not indexed separately');
    throw invalidValue('_contained', 'expected true, false or both');
  }
  if (value === 'container') return;
  if (value === 'contained') throw unsupportedParam('_containedType', 'contained resources are not indexed separately');
  throw invalidValue('_containedType', 'expected container or contained');
}

export function takeSpecialParams(params: readonly [string, string][]): SpecialParams {
  const out: SpecialParams = { includes: [], types: null, rest: [] };
  for (const [name, value] of params) {
    if (isIncludeParam(name)) {
      if (value !== '') out.includes.push([name, value]);
    } else if (name === '_type') {
      if (value !== '') out.types = [...(out.types ?? []), ...value.split(',').map((t) => t.trim()).filter((t) => t !== '')];
    } else if (name === '_contained' || name === '_containedType') {
      if (value !== '') checkContained(name, value);
    } else {
      out.rest.push([name, value]);
    }
  }
  return out;
}
