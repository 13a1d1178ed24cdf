/**
 * A criterion name as written — `family:exact`, `subject:Patient.name`,
 * `_has:Observation:patient:code`, `_list`, `_id` — resolved against the
 * registry for `resourceType`. Chains and _has recurse, so `a.b.c` and nested
 * `_has:…:_has:…` come out as nested criteria (query.ts `link`). Unknown names
 * return null at the top level (lenient handling); inside a chain or _has they
 * are always an error, since dropping part of a chain would widen the result.
 */
import { HavenError } from '../kernel/index.js';
import type { SearchParamDef, SearchParamRegistry } from '../fhir/index.js';
import { splitUnescaped, unescapeValue } from './escape.js';
import { parseCriterion, unsupportedModifier, unsupportedParam } from './parse-criterion.js';
import { invalidValue, parseDateValue, parseMissingValue } from './parse-values.js';
import type { ValueContext } from './parse-values.js';
import type { Criterion } from './query.js';

export type BaseContext = Omit<ValueContext, 'param'>;

/** Nesting limit for chains and _has: deep enough for real queries, bounded against abuse. */
const MAX_DEPTH = 4;
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;

export function unknownParam(name: string): HavenError {
  return new HavenError('incorrect', 'SEARCH_UNKNOWN_PARAM', `Unknown search parameter: ${name}`, { expression: [name] });
}

function splitName(raw: string): [string, string | null] {
  const colon = raw.indexOf(':');
  return colon < 0 ? [raw, null] : [raw.slice(0, colon), raw.slice(colon + 1)];
}

function parseIdCriterion(modifier: string | null, value: string, ctx: ValueContext): Criterion {
  if (modifier === 'missing') return { param: '_id', kind: 'id', modifier, values: [parseMissingValue(value, ctx)] };
  // `_id` is a token: besides :missing, :not (none of these ids) is the one token modifier that applies.
  if (modifier !== null && modifier !== 'not') throw unsupportedModifier('_id', modifier);
  const values = splitUnescaped(value, ',').map((v) => {
    const code = unescapeValue(v);
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(code)) throw invalidValue('_id', 'expected a resource id');
    return { kind: 'token' as const, system: { match: 'any' as const }, code };
  });
  return { param: '_id', kind: 'id', modifier, values };
}

function parseLastUpdated(modifier: string | null, value: string, ctx: ValueContext): Criterion {
  if (modifier !== null) throw unsupportedModifier('_lastUpdated', modifier);
  const values = splitUnescaped(value, ',').map((v) => parseDateValue(v, ctx));
  return { param: '_lastUpdated', kind: 'lastUpdated', modifier: null, values };
}

function parseList(modifier: string | null, value: string): Criterion {
  if (modifier !== null) throw unsupportedModifier('_list', modifier);
  const values = splitUnescaped(value, ',').map((v) => {
    const code = unescapeValue(v);
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(code)) throw invalidValue('_list', 'expected the id of a List');
    return { kind: 'token' as const, system: { match: 'any' as const }, code };
  });
  return { param: '_list', kind: 'list', modifier: null, values };
}

function referenceDef(registry: SearchParamRegistry, type: string, code: string, whole: string): SearchParamDef {
  const def = registry.get(type, code);
  if (def === undefined) throw unknownParam(whole);
  if (def.type !== 'reference') throw unsupportedParam(code, 'only reference parameters can be chained');
  return def;
}

function hasParamNamed(registry: SearchParamRegistry, type: string, rawName: string): boolean {
  const [name] = splitName(rawName.split('.')[0]!);
  return name === '_id' || name === '_lastUpdated' || name === '_has' || registry.get(type, name) !== undefined;
}

/** The target type of one chain link: `:Type` given, or the only target on which the rest can be searched. */
function chainTarget(def: SearchParamDef, explicit: string | null, rest: string, registry: SearchParamRegistry, whole: string): string {
  if (explicit !== null) {
    if (!TYPE.test(explicit) || (def.target.length > 0 && !def.target.includes(explicit))) throw unsupportedModifier(def.code, explicit);
    return explicit;
  }
  const candidates = def.target.filter((t) => hasParamNamed(registry, t, rest));
  if (candidates.length === 1) return candidates[0]!;
  if (candidates.length === 0) throw unknownParam(whole);
  throw new HavenError(
    'incorrect',
    'SEARCH_CHAIN_AMBIGUOUS',
    `Chained parameter '${whole}' could refer to ${candidates.join(', ')}: name one with ${def.code}:[type].…`,
    { expression: [whole] },
  );
}

function parseChain(type: string, rawName: string, value: string, registry: SearchParamRegistry, ctx: BaseContext, depth: number): Criterion {
  const dot = rawName.indexOf('.');
  const [code, explicit] = splitName(rawName.slice(0, dot));
  const rest = rawName.slice(dot + 1);
  const def = referenceDef(registry, type, code, rawName);
  const targetType = chainTarget(def, explicit, rest, registry, rawName);
  const inner = parseInner(targetType, rest, value, registry, ctx, depth + 1);
  return { param: def.code, kind: 'chain', modifier: null, values: [], link: { targetType, inner } };
}

/** `_has:Type:param:rest` — resources of Type referring to this one through `param` and matching `rest`. */
function parseHas(type: string, rawName: string, value: string, registry: SearchParamRegistry, ctx: BaseContext, depth: number): Criterion {
  const parts = rawName.split(':');
  const [, source, param] = parts;
  const rest = parts.slice(3).join(':');
  if (source === undefined || param === undefined || rest === '' || !TYPE.test(source)) {
    throw invalidValue('_has', 'expected _has:Type:reference-parameter:parameter');
  }
  const def = referenceDef(registry, source, param, rawName);
  if (def.target.length > 0 && !def.target.includes(type)) {
    throw unsupportedParam('_has', `${source}.${param} does not refer to ${type}`);
  }
  const inner = parseInner(source, rest, value, registry, ctx, depth + 1);
  return { param: def.code, kind: 'has', modifier: null, values: [], link: { targetType: source, inner } };
}

function parseInner(type: string, rawName: string, value: string, registry: SearchParamRegistry, ctx: BaseContext, depth: number): Criterion {
  if (depth > MAX_DEPTH) throw unsupportedParam(rawName, `chains and _has nest at most ${MAX_DEPTH} levels`);
  const parsed = parseNamed(type, rawName, value, registry, ctx, depth);
  if (parsed === null) throw unknownParam(rawName);
  return parsed;
}

/** A criterion for `rawName=value` on `resourceType`; null when the parameter is unknown. */
export function parseNamed(
  resourceType: string,
  rawName: string,
  value: string,
  registry: SearchParamRegistry,
  ctx: BaseContext,
  depth = 0,
): Criterion | null {
  if (rawName.startsWith('_has:')) return parseHas(resourceType, rawName, value, registry, ctx, depth);
  if (rawName === '_has') throw invalidValue('_has', 'expected _has:Type:reference-parameter:parameter');
  if (rawName.includes('.')) return parseChain(resourceType, rawName, value, registry, ctx, depth);
  const [name, modifier] = splitName(rawName);
  const vctx = { ...ctx, param: name };
  if (name === '_id') return parseIdCriterion(modifier, value, vctx);
  if (name === '_lastUpdated') return parseLastUpdated(modifier, value, vctx);
  if (name === '_list') return parseList(modifier, value);
  if (name === '_text' || name === '_content') throw unsupportedParam(name, 'full-text search is not supported');
  const def = registry.get(resourceType, name);
  if (def === undefined) return null;
  return parseCriterion(def, modifier, value, ctx, registry);
}

/**
 * Resource types a query reads besides its own, through chains and _has (e.g.
 * `Observation?subject:Patient.name=x` reads Patient names). Authorization
 * should require search access to each: a chain is a way of asking about them.
 */
export function linkedTypes(criteria: readonly Criterion[]): string[] {
  const out = new Set<string>();
  const visit = (c: Criterion): void => {
    if (c.link === undefined) return;
    out.add(c.link.targetType);
    visit(c.link.inner);
  };
  for (const c of criteria) visit(c);
  if (criteria.some((c) => c.kind === 'list')) out.add('List');
  return [...out].sort();
}
