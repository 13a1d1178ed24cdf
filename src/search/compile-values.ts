/**
 * One typed search value → a SQL condition on one index row (alias `i`) or on
 * resource columns. Date semantics follow R4 §3.1.1.4.1 with the search value
 * as the half-open range [pl, pe) and the stored value as the inclusive range
 * [rl, rh]; number/quantity compare the stored point value (R4: gt/lt/ge/le/
 * sa/eb ignore the search value's implicit precision; eq/ne use it; ap is
 * ±10% of the value).
 */
import type { DateValue, NumberValue, QuantityValue, ReferenceValue, StringValue, TokenValue } from './query.js';
import { escapeLike, prefixUpperBound } from './sql-params.js';
import type { SqlParams } from './sql-params.js';

/** Starts-with on a text_pattern_ops column: LIKE for correctness plus a range the index can always use. */
export function startsWith(column: string, prefix: string, p: SqlParams): string {
  const like = `${column} LIKE ${p.add(`${escapeLike(prefix)}%`)}`;
  const upper = prefixUpperBound(prefix);
  if (upper === null) return like;
  return `${column} ~>=~ ${p.add(prefix)} AND ${column} ~<~ ${p.add(upper)} AND ${like}`;
}

export function stringCondition(v: StringValue, modifier: string | null, p: SqlParams): string {
  if (modifier === 'exact') return `i.value_norm = ${p.add(v.norm)} AND i.value_exact = ${p.add(v.value)}`;
  if (modifier === 'contains') return `i.value_norm LIKE ${p.add(`%${escapeLike(v.norm)}%`)}`;
  return startsWith('i.value_norm', v.norm, p);
}

export function tokenCondition(v: TokenValue, p: SqlParams): string {
  const parts: string[] = [];
  if (v.code !== null) parts.push(`i.code = ${p.add(v.code)}`);
  if (v.system.match === 'none') parts.push('i.system IS NULL');
  if (v.system.match === 'equals') parts.push(`i.system = ${p.add(v.system.value)}`);
  return parts.join(' AND ');
}

export function referenceCondition(v: ReferenceValue, p: SqlParams): string {
  if (v.url !== null) {
    const url = `i.url = ${p.add(v.url)}`;
    return v.version === null ? url : `${url} AND i.version = ${p.add(v.version)}`;
  }
  const id = `i.target_id = ${p.add(v.id)}`;
  return v.targetType === null ? id : `${id} AND i.target_type = ${p.add(v.targetType)}`;
}

/** All `/`-separated prefixes of a URI, for :above (the stored URI is one of them). */
export function uriAncestors(uri: string): string[] {
  const out: string[] = [];
  let at = uri.indexOf('/', uri.indexOf('://') + 3);
  while (at > 0) {
    out.push(uri.slice(0, at));
    at = uri.indexOf('/', at + 1);
  }
  out.push(uri);
  return out;
}

/** Range conditions for dates; `rl`/`rh` are the stored range's column expressions. */
export function dateCondition(v: DateValue, rl: string, rh: string, p: SqlParams): string {
  const pl = () => p.add(v.low, 'timestamptz');
  const pe = () => p.add(v.end, 'timestamptz');
  switch (v.prefix) {
    case 'eq':
      // rl < pe is implied (rl <= rh < pe) but bounds the index range scan.
      return `(${rl} >= ${pl()} AND ${rl} < ${pe()} AND ${rh} < ${pe()})`;
    case 'ne':
      return `(${rl} < ${pl()} OR ${rh} >= ${pe()})`;
    case 'gt':
      return `${rh} >= ${pe()}`;
    case 'lt':
      return `${rl} < ${pl()}`;
    case 'ge':
      return `(${rl} >= ${pl()} OR ${rh} >= ${pe()})`;
    case 'le':
      return `(${rl} < ${pl()} OR ${rh} < ${pe()})`;
    case 'sa':
      return `${rl} >= ${pe()}`;
    case 'eb':
      return `${rh} < ${pl()}`;
    case 'ap':
      // The parser already widened [low, end); ap matches any overlap.
      return `(${rl} < ${pe()} AND ${rh} >= ${pl()})`;
  }
}

export function numberCondition(v: NumberValue | QuantityValue, p: SqlParams): string {
  const col = 'i.value';
  const exact = () => p.add(v.value, 'numeric');
  switch (v.prefix) {
    case 'eq':
      return `(${col} >= ${p.add(v.low, 'numeric')} AND ${col} < ${p.add(v.end, 'numeric')})`;
    case 'ne':
      return `(${col} < ${p.add(v.low, 'numeric')} OR ${col} >= ${p.add(v.end, 'numeric')})`;
    case 'gt':
    case 'sa':
      return `${col} > ${exact()}`;
    case 'lt':
    case 'eb':
      return `${col} < ${exact()}`;
    case 'ge':
      return `${col} >= ${exact()}`;
    case 'le':
      return `${col} <= ${exact()}`;
    case 'ap': {
      const x = exact();
      return `(${col} >= ${x} - abs(${x}) * 0.1 AND ${col} <= ${x} + abs(${x}) * 0.1)`;
    }
  }
}

export function quantityCondition(v: QuantityValue, p: SqlParams): string {
  const number = numberCondition(v, p);
  if (v.code === null) return number;
  if (v.system !== null) return `${number} AND i.system = ${p.add(v.system)} AND i.code = ${p.add(v.code)}`;
  const code = p.add(v.code);
  return `${number} AND (i.code = ${code} OR i.unit = ${code})`;
}
