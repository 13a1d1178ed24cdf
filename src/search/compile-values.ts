/**
 * One typed search value → a SQL condition on one index row (alias `i`) or on
 * resource columns. Date semantics follow R4 §3.1.1.4.1 with the search value
 * as the half-open range [pl, pe) and the stored value as the inclusive range
 * [rl, rh]; number/quantity compare the stored point value (R4: gt/lt/ge/le/
 * sa/eb ignore the search value's implicit precision; eq/ne use it; ap is
 * ±10% of the value).
 */
import type {
  BlindValue, DateValue, IndexKind, NumberValue, QuantityValue, ReferenceValue, StringValue, SubsumptionValue, TokenValue, ValueSetValue,
} from './query.js';
import { escapeLike, prefixUpperBound } from './sql-params.js';
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

/** Re-aliases a condition written against index alias `i` (values are placeholders, so only column names say `i.`). */
export function onAlias(condition: string, alias: string): string {
  return condition.replace(/\bi\./g, `${alias}.`);
}

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

/** A blind-indexed value: one equality on the tag (idx_*_blind), plus the token's plaintext system condition. */
export function blindCondition(v: BlindValue, p: SqlParams): string {
  const parts = [`i.blind = ${p.add(v.tag, 'bytea')}`];
  const column = `i.${v.systemColumn}`;
  if (v.system?.match === 'none') parts.push(`${column} IS NULL`);
  if (v.system?.match === 'equals') parts.push(`${column} = ${p.add(v.system.value)}`);
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
      // rl < pe and rh >= pl are implied (pl <= rl <= rh < pe) but bound a range scan on either date
      // index: the planner costs both at one page and may pick idx_date_high_id, which without a lower
      // bound on high reads every earlier value of the parameter (~1,700 rows per probe at 3,000
      // patients). A point (_lastUpdated: rl = rh) needs neither.
      if (rl === rh) return `(${rl} >= ${pl()} AND ${rl} < ${pe()})`;
      return `(${rl} >= ${pl()} AND ${rl} < ${pe()} AND ${rh} < ${pe()} AND ${rh} >= ${pl()})`;
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

type Comparable = Pick<NumberValue, 'prefix' | 'value' | 'low' | 'end'>;

export function numberCondition(v: Comparable, p: SqlParams, col = 'i.value'): string {
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

/**
 * A UCUM search value matches rows by canonical unit and value; rows without
 * a canonical form (other unit systems, or written before migration 007) still
 * match by their own unit code. Both branches lead with index columns, so
 * PostgreSQL can BitmapOr idx_quantity_canon and idx_quantity_lookup.
 */
export function quantityCondition(v: QuantityValue, p: SqlParams): string {
  const number = numberCondition(v, p);
  if (v.code === null) return number;
  if (v.system !== null) {
    const plain = `${number} AND i.system = ${p.add(v.system)} AND i.code = ${p.add(v.code)}`;
    if (!v.canonical) return plain;
    const c = v.canonical;
    const canon = numberCondition({ prefix: v.prefix, value: c.value, low: c.low, end: c.end }, p, 'i.canon_value');
    return `((i.canon_code = ${p.add(c.code)} AND ${canon}) OR (i.canon_code IS NULL AND ${plain}))`;
  }
  const code = p.add(v.code);
  return `${number} AND (i.code = ${code} OR i.unit = ${code})`;
}

/**
 * Token `:in`: the coding is one the ValueSet with this url lists, by the
 * `_vs-code` / `_vs-system` rows its extraction wrote (src/fhir/valueset-values.ts),
 * or, for a core value set not stored on the server, one of its expansion's codes.
 */
export function valueSetCondition(v: ValueSetValue, p: SqlParams): string {
  if (v.expansion) return `(i.system, i.code) IN (SELECT * FROM unnest(${p.add(v.expansion.systems, 'text[]')}, ${p.add(v.expansion.codes, 'text[]')}))`;
  const sets = `SELECT u.resource_id FROM idx_uri u WHERE u.tenant_id = $1 AND u.resource_type = 'ValueSet' AND u.param = 'url' AND u.value = ${p.add(v.url)}`;
  const codes = `SELECT c.system, c.code FROM idx_token c WHERE c.tenant_id = $1 AND c.resource_type = 'ValueSet' AND c.param = '_vs-code' AND c.resource_id IN (${sets})`;
  const systems = `SELECT s.value FROM idx_uri s WHERE s.tenant_id = $1 AND s.resource_type = 'ValueSet' AND s.param = '_vs-system' AND s.resource_id IN (${sets})`;
  return `((i.system, i.code) IN (${codes}) OR i.system IN (${systems}))`;
}

/**
 * Token `:below` / `:above`: the code itself, or a code the stored CodeSystem's
 * hierarchy places under (or over) it, through its `_cs-below` pair rows.
 */
export function subsumptionCondition(v: SubsumptionValue, p: SqlParams): string {
  const [from, to] = v.direction === 'below' ? ['_cs-below$0', '_cs-below$1'] : ['_cs-below$1', '_cs-below$0'];
  const system = p.add(v.system);
  const code = p.add(v.code);
  const related = `SELECT b.code FROM idx_token a JOIN idx_token b ON b.tenant_id = a.tenant_id AND b.resource_type = a.resource_type AND b.resource_id = a.resource_id AND b.param = '${to}' AND b.grp = a.grp
    WHERE a.tenant_id = $1 AND a.resource_type = 'CodeSystem' AND a.param = '${from}' AND a.code = ${code} AND a.system = ${system}`;
  return `i.system = ${system} AND (i.code = ${code} OR i.code IN (${related}))`;
}
