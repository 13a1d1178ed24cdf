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

/**
 * The target types of one chain link: `:Type` given, else every target on which the rest can be
 * searched. Several are searched together when the next parameter means the same on each (same
 * name and type, e.g. `identifier`, a token, on Patient, Group, Device and Location: R4 asks servers
 * to refuse only where the meanings differ); otherwise the client must name one.
 */
function chainTargets(def: SearchParamDef, explicit: string | null, rest: string, registry: SearchParamRegistry, whole: string): string[] {
  if (explicit !== null) {
    if (!TYPE.test(explicit) || (def.target.length > 0 && !def.target.includes(explicit))) throw unsupportedModifier(def.code, explicit);
    return [explicit];
  }
  const candidates = def.target.filter((t) => hasParamNamed(registry, t, rest));
  if (candidates.length === 0) throw unknownParam(whole);
  if (candidates.length === 1 || sameMeaning(registry, candidates, rest)) return candidates;
  throw new HavenError(
    'incorrect',
    'SEARCH_CHAIN_AMBIGUOUS',
    `Chained parameter '${whole}' could refer to ${candidates.join(', ')}, where it means different things: name one with ${def.code}:[type].…`,
    { expression: [whole] },
  );
}

/** Whether the first parameter of `rest` has one type on every candidate (the special ones always do). */
function sameMeaning(registry: SearchParamRegistry, types: string[], rest: string): boolean {
  const [name] = splitName(rest.split('.')[0]!);
  if (name === '_id' || name === '_lastUpdated' || name === '_has') return true;
  return new Set(types.map((t) => registry.get(t, name)?.type)).size === 1;
}

function parseChain(type: string, rawName: string, value: string, registry: SearchParamRegistry, ctx: BaseContext, depth: number): Criterion {
  const dot = rawName.indexOf('.');
  const [code, explicit] = splitName(rawName.slice(0, dot));
  const rest = rawName.slice(dot + 1);
  const def = referenceDef(registry, type, code, rawName);
  const [first, ...others] = chainTargets(def, explicit, rest, registry, rawName).map((targetType) => ({
    targetType,
    inner: parseInner(targetType, rest, value, registry, ctx, depth + 1),
  }));
  return { param: def.code, kind: 'chain', modifier: null, values: [], link: first!, ...(others.length > 0 ? { otherLinks: others } : {}) };
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
  const criterion = parseCriterion(def, modifier, value, ctx, registry);
  // A union of other parameters has no rows of its own: its sources' rows answer (src/fhir/union-params.ts).
  const sources = criterion.param === def.code ? registry.rowParams?.(resourceType, def.code) : undefined;
  const onlyTarget = criterion.kind === 'reference' ? registry.onlyTarget?.(resourceType, def.code) : undefined;
  const answered = sources || onlyTarget ? { ...criterion, ...(sources ? { rowParams: sources } : {}), ...(onlyTarget ? { onlyTarget } : {}) } : criterion;
  return answered.kind === 'composite' ? withComponentRows(resourceType, answered, registry) : answered;
}

/** A composite (or a union of them) some of whose sources are whole-resource composites (src/fhir/resource-composites.ts). */
function withComponentRows(resourceType: string, c: Criterion, registry: SearchParamRegistry): Criterion {
  const componentRows: Record<string, readonly string[]> = {};
  for (const source of c.rowParams ?? [c.param]) {
    const holders = registry.componentRows?.(resourceType, source);
    if (holders) componentRows[source] = holders;
  }
  return Object.keys(componentRows).length > 0 ? { ...c, componentRows } : c;
}

/** A chain's or _has's links: the one, plus a chain's other target types. */
export function linksOf(c: Criterion): { targetType: string; inner: Criterion }[] {
  return c.link === undefined ? [] : [c.link, ...(c.otherLinks ?? [])];
}

/**
 * Chains over several target types keep the types `permits` allows (a type the caller may not
 * search is not searched, as a system search leaves out types it may not read); when it allows
 * none, the first stays, so authorization refuses the search with that type's reason.
 */
export function permittedLinks(criteria: readonly Criterion[], permits: (type: string) => boolean): Criterion[] {
  const prune = (c: Criterion): Criterion => {
    if (c.link === undefined) return c;
    const links = linksOf(c).map((l) => ({ ...l, inner: prune(l.inner) }));
    if (c.otherLinks === undefined) return { ...c, link: links[0]! };
    const allowed = links.filter((l) => permits(l.targetType));
    const [first, ...others] = allowed.length > 0 ? allowed : [links[0]!];
    const { otherLinks: _dropped, ...rest } = c;
    return { ...rest, link: first!, ...(others.length > 0 ? { otherLinks: others } : {}) };
  };
  return criteria.map(prune);
}

/**
 * Resource types a query reads besides its own, through chains and _has (e.g.
 * `Observation?subject:Patient.name=x` reads Patient names). Authorization
 * should require search access to each: a chain is a way of asking about them.
 */
export function linkedTypes(criteria: readonly Criterion[]): string[] {
  const out = new Set<string>();
  const visit = (c: Criterion): void => {
    for (const link of linksOf(c)) {
      out.add(link.targetType);
      visit(link.inner);
    }
  };
  for (const c of criteria) visit(c);
  if (criteria.some((c) => c.kind === 'list')) out.add('List');
  return [...out].sort();
}
