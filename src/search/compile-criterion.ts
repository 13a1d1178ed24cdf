/**
 * One Criterion → one SQL condition on `resource r`. Positive criteria are
 * `r.id IN (SELECT i.resource_id FROM idx_x i WHERE <tenant, type, param> AND
 * (v1 OR v2 …))`: the subquery leads with the columns of the idx_*_lookup
 * indexes as constants, so PostgreSQL drives it from those indexes and
 * semi-joins to the resource primary key. Negative ones (:not, :missing=true)
 * are NOT EXISTS, which plans as an anti-join on idx_*_owner.
 */
import type { Criterion, IndexKind, SearchValue } from './query.js';
import { chainSet, compositeSet, hasSet, listCondition } from './compile-link.js';
import type { Compilers, Scope } from './compile-link.js';
import type { CompartmentLimit } from './compartment.js';
import {
  blindCondition,
  dateCondition,
  numberCondition,
  quantityCondition,
  referenceCondition,
  startsWith,
  stringCondition,
  tableOf,
  tokenCondition,
  uriAncestors,
  subsumptionCondition,
  valueSetCondition,
} from './compile-values.js';
import type { SqlParams } from './sql-params.js';

export { tableOf };

/** The top-level scope: `resource r`, whose type is `$2` (`$1` is always the tenant). */
export const topScope: Scope = { alias: 'r', type: '$2', depth: 0 };

/** The top-level scope of a query, carrying its compartment limit down to linked resources. */
export function scopeOf(query: { resourceType: string; within?: CompartmentLimit }): Scope {
  return { ...topScope, name: query.resourceType, ...(query.within ? { within: query.within } : {}) };
}

/** One parameter, or (Criterion.rowParams) the parameters whose rows stand for it. */
export function paramIs(param: string | readonly string[], p: SqlParams, alias = 'i'): string {
  return typeof param === 'string' ? `${alias}.param = ${p.add(param)}` : `${alias}.param = ANY(${p.add(param, 'text[]')})`;
}

function rowsOf(kind: IndexKind, param: string | readonly string[], p: SqlParams, s: Scope): string {
  return `FROM ${tableOf[kind]} i WHERE i.tenant_id = $1 AND i.resource_type = ${s.type} AND ${paramIs(param, p)}`;
}

function ownedBy(kind: IndexKind, param: string | readonly string[], p: SqlParams, s: Scope): string {
  const a = s.alias;
  return `FROM ${tableOf[kind]} i WHERE i.tenant_id = ${a}.tenant_id AND i.resource_type = ${a}.resource_type AND i.resource_id = ${a}.id AND ${paramIs(param, p)}`;
}

export function valueCondition(c: Criterion, v: SearchValue, p: SqlParams): string {
  switch (v.kind) {
    case 'string':
      return stringCondition(v, c.modifier, p);
    case 'token':
      return tokenCondition(v, p);
    case 'text':
      return startsWith('i.text_norm', v.norm, p);
    case 'date':
      return dateCondition(v, 'i.low', 'i.high', p);
    case 'number':
      return numberCondition(v, p);
    case 'quantity':
      return quantityCondition(v, p);
    case 'reference':
      return referenceCondition(v, p);
    case 'uri':
      if (c.modifier === 'below') return startsWith('i.value', v.value, p);
      if (c.modifier === 'above') return `i.value = ANY(${p.add(uriAncestors(v.value), 'text[]')})`;
      return `i.value = ${p.add(v.value)}`;
    case 'identifier': {
      const value = `i.identifier_value = ${p.add(v.value)}`;
      return v.system === null ? value : `${value} AND i.identifier_system = ${p.add(v.system)}`;
    }
    case 'blind':
      return blindCondition(v, p);
    case 'valueset':
      return valueSetCondition(v, p);
    case 'subsumption':
      return subsumptionCondition(v, p);
    case 'missing':
    case 'composite':
      throw new Error(`unreachable: ${v.kind} values are compiled by their criterion`);
  }
}

export function anyOf(conditions: string[]): string {
  return conditions.length === 1 ? conditions[0]! : `(${conditions.map((c) => `(${c})`).join(' OR ')})`;
}

function missingCondition(kind: IndexKind, c: Criterion, p: SqlParams, s: Scope): string {
  return anyOf(
    c.values.map((v) => {
      const missing = v.kind === 'missing' && v.missing;
      return missing
        ? `NOT EXISTS (SELECT 1 ${ownedBy(kind, c.rowParams ?? c.param, p, s)})`
        : `${s.alias}.id IN (SELECT i.resource_id ${rowsOf(kind, c.rowParams ?? c.param, p, s)})`;
    }),
  );
}

function idCondition(c: Criterion, p: SqlParams, s: Scope): string {
  if (c.modifier === 'missing') return c.values.some((v) => v.kind === 'missing' && !v.missing) ? 'TRUE' : 'FALSE';
  const ids = c.values.flatMap((v) => (v.kind === 'token' && v.code !== null ? [v.code] : []));
  const any = `${s.alias}.id = ANY(${p.add(ids, 'text[]')})`;
  return c.modifier === 'not' ? `NOT (${any})` : any;
}

const compilers: Compilers = { condition: (c, p, s) => criterionCondition(c, p, s), idSet: (c, p, s) => idSet(c, p, s) };

/**
 * The ids of live resources matching a positive criterion, as one SELECT led
 * by index columns; null for criteria that need the resource row (_id,
 * _lastUpdated, _list, :missing, :not, :not-in).
 */
export function idSet(c: Criterion, p: SqlParams, s: Scope): string | null {
  const kind = c.kind;
  if (kind === 'id' || kind === 'lastUpdated' || kind === 'list') return null;
  if (kind === 'chain') return chainSet(c, p, s, compilers);
  if (kind === 'has') return hasSet(c, p, s, compilers);
  if (kind === 'composite') return compositeSet(c, p, s, valueCondition);
  if (c.modifier === 'missing' || c.modifier === 'not' || c.modifier === 'not-in') return null;
  const match = anyOf(c.values.map((v) => valueCondition(c, v, p)));
  return `SELECT i.resource_id ${rowsOf(kind, c.rowParams ?? c.param, p, s)} AND ${match}`;
}

/** One criterion as a condition on the resource row `scope.alias` (default `r`, of type `$2`). */
export function criterionCondition(c: Criterion, p: SqlParams, s: Scope = topScope): string {
  if (c.kind === 'id') return idCondition(c, p, s);
  if (c.kind === 'lastUpdated') {
    const col = `${s.alias}.last_updated`;
    return anyOf(c.values.map((v) => (v.kind === 'date' ? dateCondition(v, col, col, p) : 'FALSE')));
  }
  if (c.kind === 'list') return listCondition(c, p, s);
  const set = idSet(c, p, s);
  if (set !== null) return `${s.alias}.id IN (${set})`;
  const kind = c.kind as IndexKind;
  if (c.modifier === 'missing') return missingCondition(kind, c, p, s);
  const match = anyOf(c.values.map((v) => valueCondition(c, v, p)));
  return `NOT EXISTS (SELECT 1 ${ownedBy(kind, c.rowParams ?? c.param, p, s)} AND ${match})`;
}
