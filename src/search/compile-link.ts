/**
 * Criteria that look beyond one index row of the resource itself:
 * - chain (`subject:Patient.name=x`): the reference rows of this resource whose
 *   target ids are in the set of targets matching the inner criterion;
 * - _has (`_has:Observation:patient:code=x`): this resource is the target of a
 *   reference row owned by a matching resource of the referring type;
 * - composite: every component row in the same group (ADR 0003);
 * - _list: the resource is an item of the given List.
 * All are `alias.id IN (SELECT …)` semi-joins led by index columns, nested to
 * any depth; each nesting level gets its own resource alias (x1, x2, …).
 * With a compartment limit (`Scope.within`) every linked resource — chain
 * target, `_has` source, List — must also lie inside it, at every depth.
 */
import type { Criterion, CompositeValue, SearchValue } from './query.js';
import type { SqlParams } from './sql-params.js';
import { onAlias, tableOf } from './compile-values.js';
import { limitIdSet, type CompartmentLimit } from './compartment.js';
import { isKeyedToken, patientsWithToken } from './patient-token.js';

/** The resource row a condition is about: its alias, its type (SQL expression) and nesting depth. */
export interface Scope {
  alias: string;
  type: string;
  depth: number;
  /** The type's name, when known (the top level and linked types); `type` is its SQL expression. */
  name?: string;
  /** The caller sees only this compartment: linked resources (chain, _has, _list) must lie inside it. */
  within?: CompartmentLimit;
}

export type ConditionOf = (c: Criterion, p: SqlParams, s: Scope) => string;
/** The ids matching a criterion as one index-led SELECT, or null when only a condition on a resource row can say. */
export type IdSetOf = (c: Criterion, p: SqlParams, s: Scope) => string | null;

export interface Compilers {
  condition: ConditionOf;
  idSet: IdSetOf;
}
/** A value's condition on index alias `i` (passed in to keep the module graph acyclic). */
export type ValueConditionOf = (c: Criterion, v: SearchValue, p: SqlParams) => string;

/**
 * Ids of live resources of type `type` (a placeholder) that satisfy `inner`.
 * Index rows exist only for live resources (deletion removes them), so a
 * positive criterion is its index SELECT alone; anything else (negations,
 * _id, _lastUpdated) is a condition on the resource rows of that type.
 */
function matchingIds(inner: Criterion, typeName: string, type: string, p: SqlParams, s: Scope, k: Compilers): string {
  const depth = s.depth + 1;
  const alias = `x${depth}`;
  const scope: Scope = { alias, type, depth, name: typeName, ...(s.within ? { within: s.within } : {}) };
  const set = k.idSet(inner, p, scope);
  if (set !== null) return set;
  return `SELECT ${alias}.id FROM resource ${alias} WHERE ${alias}.tenant_id = $1 AND ${alias}.resource_type = ${type} AND NOT ${alias}.deleted AND ${k.condition(inner, p, scope)}`;
}

/** ` AND column IN (members of type)` when the scope is limited to a compartment; '' otherwise. */
function inside(column: string, type: string, typeRef: string, p: SqlParams, s: Scope): string {
  return s.within ? ` AND ${column} IN (${limitIdSet(s.within, type, typeRef, p, `w${s.depth}`)})` : '';
}

/** A chain: references to a matching target; over several target types (`otherLinks`), a UNION ALL of one such select per type. */
export function chainSet(c: Criterion, p: SqlParams, s: Scope, k: Compilers): string {
  const h = `h${s.depth}`;
  const param = p.add(c.param);
  return [c.link!, ...(c.otherLinks ?? [])]
    .map((link) => {
      const target = p.add(link.targetType);
      return `SELECT ${h}.resource_id FROM idx_reference ${h} WHERE ${h}.tenant_id = $1 AND ${h}.resource_type = ${s.type} AND ${h}.param = ${param} AND ${h}.target_type = ${target} AND ${h}.target_id IN (${matchingIds(link.inner, link.targetType, target, p, s, k)})${inside(`${h}.target_id`, link.targetType, target, p, s)}`;
    })
    .join(' UNION ALL ');
}

export function hasSet(c: Criterion, p: SqlParams, s: Scope, k: Compilers): string {
  const link = c.link!;
  const source = p.add(link.targetType);
  const h = `h${s.depth}`;
  const limit = () => inside(`${h}.resource_id`, link.targetType, source, p, s);
  // Patients with a keyed token through the parameter: one index range per candidate (patient-token.ts).
  if (s.name === 'Patient' && isKeyedToken(link.inner)) return `${patientsWithToken(link.inner, c.param, source, p, h)}${limit()}`;
  return `SELECT ${h}.target_id FROM idx_reference ${h} WHERE ${h}.tenant_id = $1 AND ${h}.resource_type = ${source} AND ${h}.param = ${p.add(c.param)} AND ${h}.target_type = ${s.type} AND ${h}.resource_id IN (${matchingIds(link.inner, link.targetType, source, p, s, k)})${limit()}`;
}

/** `grouped`: components must share a group (their own `$k` rows); otherwise the group is the resource. */
function oneComposite(v: CompositeValue, grouped: boolean, c: Criterion, p: SqlParams, s: Scope, valueConditionFor: ValueConditionOf): string {
  const [first, ...rest] = v.parts;
  if (first === undefined) return 'FALSE';
  const a0 = `c${s.depth}_0`;
  const joins = rest.map((part, k) => {
    const a = `c${s.depth}_${k + 1}`;
    const group = grouped ? ` AND ${a}.grp = ${a0}.grp` : '';
    return `JOIN ${tableOf[part.kind]} ${a} ON ${a}.tenant_id = ${a0}.tenant_id AND ${a}.resource_type = ${a0}.resource_type AND ${a}.resource_id = ${a0}.resource_id AND ${a}.param = ${p.add(part.param)}${group}`;
  });
  const conditions = v.parts.map((part, k) => `(${onAlias(valueConditionFor(c, part.value, p), `c${s.depth}_${k}`)})`);
  return `SELECT ${a0}.resource_id FROM ${tableOf[first.kind]} ${a0} ${joins.join(' ')} WHERE ${a0}.tenant_id = $1 AND ${a0}.resource_type = ${s.type} AND ${a0}.param = ${p.add(first.param)} AND ${conditions.join(' AND ')}`;
}

/** The same composite value under another parameter's component rows (`combo-x$1` → `x$1`). */
function renamedParts(v: CompositeValue, from: string, to: string): CompositeValue {
  return { ...v, parts: v.parts.map((part) => ({ ...part, param: to + part.param.slice(from.length) })) };
}

/** The same composite value on other parameters' rows, component k on `holders[k]` (Criterion.componentRows). */
function partsOn(v: CompositeValue, holders: readonly string[]): CompositeValue {
  return { ...v, parts: v.parts.map((part, k) => ({ ...part, param: holders[k]! })) };
}

/**
 * Alternatives (commas) are a UNION ALL of one join per composite value; a
 * union composite (Criterion.rowParams) joins each source's own component
 * rows, whose group numbers are their own, and a whole-resource composite
 * (Criterion.componentRows) its components' parameters' rows of one resource.
 */
export function compositeSet(c: Criterion, p: SqlParams, s: Scope, value: ValueConditionOf): string {
  const sources = c.rowParams ?? [c.param];
  const one = (v: CompositeValue, source: string): string => {
    const holders = c.componentRows?.[source];
    if (holders) return oneComposite(partsOn(v, holders), false, c, p, s, value);
    return oneComposite(source === c.param ? v : renamedParts(v, c.param, source), true, c, p, s, value);
  };
  const alternatives = c.values.flatMap((v) => (v.kind === 'composite' ? sources.map((source) => one(v, source)) : []));
  return alternatives.length === 0 ? 'SELECT NULL::text WHERE FALSE' : alternatives.join(' UNION ALL ');
}

export function listCondition(c: Criterion, p: SqlParams, s: Scope): string {
  const ids = c.values.flatMap((v) => (v.kind === 'token' && v.code !== null ? [v.code] : []));
  const l = `l${s.depth}`;
  return `${s.alias}.id IN (SELECT ${l}.target_id FROM idx_reference ${l} WHERE ${l}.tenant_id = $1 AND ${l}.resource_type = 'List' AND ${l}.resource_id = ANY(${p.add(ids, 'text[]')}) AND ${l}.param = 'item' AND ${l}.target_type = ${s.type}${inside(`${l}.resource_id`, 'List', "'List'", p, s)})`;
}
