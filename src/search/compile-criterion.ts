/**
 * One Criterion → one SQL condition on `resource r`. Positive criteria are
 * `r.id IN (SELECT i.resource_id FROM idx_x i WHERE <tenant, type, param> AND
 * (v1 OR v2 …))`: the subquery leads with the columns of the idx_*_lookup
 * indexes as constants, so PostgreSQL drives it from those indexes and
 * semi-joins to the resource primary key. Negative ones (:not, :missing=true)
 * are NOT EXISTS, which plans as an anti-join on idx_*_owner.
 */
import type { Criterion, IndexKind, SearchValue } from './query.js';
import {
  dateCondition,
  numberCondition,
  quantityCondition,
  referenceCondition,
  startsWith,
  stringCondition,
  tokenCondition,
  uriAncestors,
} from './compile-values.js';
import type { SqlParams } from './sql-params.js';

export const tableOf: Record<IndexKind, string> = {
  string: 'idx_string',
  token: 'idx_token',
  date: 'idx_date',
  reference: 'idx_reference',
  number: 'idx_number',
  quantity: 'idx_quantity',
  uri: 'idx_uri',
};

/** `$1` is the tenant and `$2` the resource type in every statement this module builds. */
function rowsOf(kind: IndexKind, param: string, p: SqlParams): string {
  return `FROM ${tableOf[kind]} i WHERE i.tenant_id = $1 AND i.resource_type = $2 AND i.param = ${p.add(param)}`;
}

function ownedBy(kind: IndexKind, param: string, p: SqlParams): string {
  return `FROM ${tableOf[kind]} i WHERE i.tenant_id = r.tenant_id AND i.resource_type = r.resource_type AND i.resource_id = r.id AND i.param = ${p.add(param)}`;
}

function valueCondition(c: Criterion, v: SearchValue, p: SqlParams): string {
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
    case 'missing':
      throw new Error('unreachable: :missing is compiled by missingCondition');
  }
}

function anyOf(conditions: string[]): string {
  return conditions.length === 1 ? conditions[0]! : `(${conditions.map((c) => `(${c})`).join(' OR ')})`;
}

function missingCondition(kind: IndexKind, c: Criterion, p: SqlParams): string {
  return anyOf(
    c.values.map((v) => {
      const missing = v.kind === 'missing' && v.missing;
      return missing
        ? `NOT EXISTS (SELECT 1 ${ownedBy(kind, c.param, p)})`
        : `r.id IN (SELECT i.resource_id ${rowsOf(kind, c.param, p)})`;
    }),
  );
}

function idCondition(c: Criterion, p: SqlParams): string {
  if (c.modifier === 'missing') return c.values.some((v) => v.kind === 'missing' && !v.missing) ? 'TRUE' : 'FALSE';
  const ids = c.values.flatMap((v) => (v.kind === 'token' && v.code !== null ? [v.code] : []));
  return `r.id = ANY(${p.add(ids, 'text[]')})`;
}

export function criterionCondition(c: Criterion, p: SqlParams): string {
  if (c.kind === 'id') return idCondition(c, p);
  if (c.kind === 'lastUpdated') {
    return anyOf(c.values.map((v) => (v.kind === 'date' ? dateCondition(v, 'r.last_updated', 'r.last_updated', p) : 'FALSE')));
  }
  const kind = c.kind;
  if (c.modifier === 'missing') return missingCondition(kind, c, p);
  if (c.modifier === 'not') {
    const match = anyOf(c.values.map((v) => valueCondition(c, v, p)));
    return `NOT EXISTS (SELECT 1 ${ownedBy(kind, c.param, p)} AND ${match})`;
  }
  const rows = rowsOf(kind, c.param, p);
  const match = anyOf(c.values.map((v) => valueCondition(c, v, p)));
  return `r.id IN (SELECT i.resource_id ${rows} AND ${match})`;
}
