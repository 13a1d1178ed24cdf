/**
 * `_include` / `_revinclude` (R4 §3.1.1.5.5): `Source:param[:Target]`,
 * `Source:*` for every reference parameter of Source (a bare `_include=*`: of each searched type), and the `:iterate`
 * modifier (`:recurse` is its STU3 name). Parsing validates against the
 * registry so that a typo is an error, not a silently empty include.
 */
import type { SearchParamDef, SearchParamRegistry } from '../fhir/index.js';
import { invalidValue } from './parse-values.js';
import { unsupportedModifier } from './parse-criterion.js';

export interface IncludeSpec {
  /** `_revinclude`: resources of sourceType that point at the current ones. */
  reverse: boolean;
  /** `:iterate`: also applies to resources included in earlier rounds. */
  iterate: boolean;
  /** The resource type that holds the reference. */
  sourceType: string;
  /** Reference parameters of sourceType (a wildcard is expanded here). */
  params: SearchParamDef[];
  /** `:Target` narrowing, or null for any target the parameters allow. */
  targetType: string | null;
}

const NAMES = new Set(['_include', '_revinclude']);

/** Whether a raw parameter name is `_include`/`_revinclude` with or without a modifier. */
export function isIncludeParam(rawName: string): boolean {
  return NAMES.has(rawName.split(':')[0]!);
}

/**
 * `_include=*` (a bare wildcard, as HAPI and many clients send it): every reference parameter of
 * each searched type, i.e. `_include=Type:*` per type. `_revinclude=*` would mean every reference
 * from every type of resource to the matches, so the referring type must be named.
 */
export function expandIncludeWildcard(includes: [string, string][], searchedTypes: readonly string[]): [string, string][] {
  return includes.flatMap(([name, value]): [string, string][] => {
    if (value !== '*') return [[name, value]];
    if (name.startsWith('_revinclude')) throw invalidValue('_revinclude', 'a bare * would take every resource that refers to the matches; name the referring type: _revinclude=Type:*');
    return searchedTypes.map((t): [string, string] => [name, `${t}:*`]);
  });
}

function referenceParams(registry: SearchParamRegistry, type: string, targetType: string | null): SearchParamDef[] {
  return registry
    .forType(type)
    .filter((d) => d.type === 'reference' && d.expression !== null)
    .filter((d) => targetType === null || d.target.length === 0 || d.target.includes(targetType));
}

export function parseInclude(
  rawName: string,
  value: string,
  registry: SearchParamRegistry,
  isResourceType: (type: string) => boolean,
): IncludeSpec {
  const [name, modifier] = rawName.split(':') as [string, string | undefined];
  if (modifier !== undefined && modifier !== 'iterate' && modifier !== 'recurse') throw unsupportedModifier(name, modifier);
  const parts = value.split(':');
  const [sourceType, code, target] = parts;
  if (parts.length < 2 || parts.length > 3 || !sourceType || !code) {
    throw invalidValue(name, 'expected SourceType:parameter or SourceType:parameter:TargetType');
  }
  if (!isResourceType(sourceType)) throw invalidValue(name, `unknown resource type '${sourceType}'`);
  const targetType = target ?? null;
  if (targetType !== null && !isResourceType(targetType)) throw invalidValue(name, `unknown resource type '${targetType}'`);
  let params: SearchParamDef[];
  if (code === '*') {
    params = referenceParams(registry, sourceType, targetType);
  } else {
    const def = registry.get(sourceType, code);
    if (def === undefined || def.type !== 'reference' || def.expression === null) {
      throw invalidValue(name, `'${code}' is not a reference search parameter of ${sourceType}`);
    }
    if (targetType !== null && def.target.length > 0 && !def.target.includes(targetType)) {
      throw invalidValue(name, `${sourceType}:${code} cannot refer to ${targetType}`);
    }
    params = [def];
  }
  return { reverse: name === '_revinclude', iterate: modifier !== undefined, sourceType, params, targetType };
}
