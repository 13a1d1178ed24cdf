import { HavenError } from '../kernel/errors.js';
import { expressionForType } from './expression-split.js';
import { compileFhirPath } from './fhirpath-eval.js';
import type { SearchParamDef } from './index-values.js';
import type { HavenSearchParamRegistry } from './search-registry.js';
import { parseSearchParameter } from './search-registry.js';
import { supportsParamType } from './to-index-values.js';

function invalid(message: string, expression: string): HavenError {
  return new HavenError('unprocessable', 'SEARCH_PARAM_INVALID', message, { expression: [expression] });
}

/** Whether a SearchParameter resource should take effect (only `active` ones do; drafts are stored, not applied). */
export function isActiveSearchParameter(sp: unknown): boolean {
  return typeof sp === 'object' && sp !== null && (sp as { status?: unknown }).status === 'active';
}

function checkExpression(def: SearchParamDef, known: ReadonlySet<string>): void {
  if (def.expression === null) throw invalid('Invalid SearchParameter: expression is missing', 'SearchParameter.expression');
  for (const base of def.base) {
    const expression = expressionForType(def.expression, base, known) ?? def.expression;
    try {
      compileFhirPath(expression);
    } catch {
      // The compiler's message may quote the expression only, but keep one shape for every failure.
      throw invalid(`Invalid SearchParameter: expression does not compile as FHIRPath for ${base}`, 'SearchParameter.expression');
    }
  }
}

/**
 * Validates a custom SearchParameter before it takes effect: parses it, checks
 * its bases, that its type can be indexed (composites are not accepted at run
 * time), that its FHIRPath compiles, and that its code does not shadow a
 * built-in parameter of the same base under another url.
 */
export function checkCustomSearchParameter(registry: HavenSearchParamRegistry, known: ReadonlySet<string>, sp: unknown): SearchParamDef {
  const def = parseSearchParameter(sp);
  const unknown = def.base.filter((b) => !known.has(b));
  if (unknown.length > 0) throw invalid(`Invalid SearchParameter: unknown base type(s): ${unknown.join(', ')}`, 'SearchParameter.base');
  if (def.type === 'composite' || !supportsParamType(def.type)) {
    throw invalid(`Invalid SearchParameter: type ${def.type} is not supported for custom parameters`, 'SearchParameter.type');
  }
  checkExpression(def, known);
  for (const base of def.base) {
    const builtin = registry.builtin(base, def.code);
    if (builtin && builtin.url !== def.url) {
      throw invalid(`Invalid SearchParameter: code ${def.code} is already a built-in parameter of ${base} (${builtin.url})`, 'SearchParameter.code');
    }
  }
  return def;
}
