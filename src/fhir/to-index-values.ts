import { dateRange, periodRange } from './date-range.js';
import type { DateRange } from './date-range.js';
import type { IndexValue, SearchParamType } from './index-values.js';
import { numberRange } from './number-range.js';
import { parseReference } from './reference.js';
import { toUcumCanonical, UCUM_SYSTEM } from './ucum.js';

/** One element found by a search expression, with its FHIR type code when known. */
export interface TypedValue {
  data: unknown;
  /** FHIR type code ('HumanName', 'dateTime', 'string', …); '' when unknown. */
  type: string;
}

type Obj = Record<string, unknown>;
type Out = IndexValue[];

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

function eachString(v: unknown, fn: (s: string) => void): void {
  if (Array.isArray(v)) for (const x of v) eachString(x, fn);
  else if (typeof v === 'string' && v.length > 0) fn(v);
}

const NAME_PARTS = ['family', 'given', 'prefix', 'suffix', 'text'];
const ADDRESS_PARTS = ['line', 'city', 'district', 'state', 'postalCode', 'country', 'text'];

function addStrings(param: string, { data }: TypedValue, out: Out): void {
  if (typeof data === 'string') {
    if (data.length > 0) out.push({ type: 'string', param, value: data });
    return;
  }
  if (!isObj(data)) return;
  // HumanName and Address: each part is its own value, so `name=smi` finds the family.
  const parts = 'family' in data || 'given' in data ? NAME_PARTS : 'city' in data || 'line' in data ? ADDRESS_PARTS : NAME_PARTS.concat(ADDRESS_PARTS);
  for (const key of parts) eachString(data[key], (value) => out.push({ type: 'string', param, value }));
}

function token(param: string, system: unknown, code: unknown, text: unknown): IndexValue {
  return { type: 'token', param, system: str(system), code: str(code), text: str(text) };
}

function addCodings(param: string, codings: unknown, out: Out): void {
  if (!Array.isArray(codings)) return;
  for (const c of codings) if (isObj(c) && (c['code'] || c['system'])) out.push(token(param, c['system'], c['code'], c['display']));
}

function addTokens(param: string, { data, type }: TypedValue, out: Out): void {
  if (typeof data === 'boolean' || typeof data === 'number') {
    out.push(token(param, null, String(data), null));
    return;
  }
  if (typeof data === 'string') {
    if (data.length > 0) out.push(token(param, null, data, null));
    return;
  }
  if (!isObj(data)) return;
  if (type === 'Identifier' || (type === '' && 'value' in data && !('code' in data))) {
    const typeText = isObj(data['type']) ? data['type']['text'] : null;
    if (data['value'] || data['system']) out.push(token(param, data['system'], data['value'], typeText));
    addOfType(param, data, out);
  } else if (type === 'ContactPoint') {
    if (data['value']) out.push(token(param, data['system'], data['value'], null));
  } else if ('coding' in data || 'text' in data) {
    addCodings(param, data['coding'], out);
    // CodeableConcept.text on its own row, so :text matches it even when codings exist.
    if (str(data['text'])) out.push(token(param, null, null, data['text']));
  } else if (data['code'] || data['system']) {
    out.push(token(param, data['system'], data['code'], data['display']));
  }
}

/**
 * `identifier:of-type=system|code|value`: one row per Identifier.type coding under
 * `<param>:of-type`, system = the type's system, code = `<type code>|<value>`,
 * so the search is one equality lookup on idx_token_lookup_id.
 */
function addOfType(param: string, data: Obj, out: Out): void {
  const value = str(data['value']);
  const type = data['type'];
  if (value === null || !isObj(type) || !Array.isArray(type['coding'])) return;
  for (const c of type['coding']) {
    if (isObj(c) && str(c['code'])) out.push(token(`${param}:of-type`, c['system'], `${String(c['code'])}|${value}`, null));
  }
}

function timingRange(data: Obj): DateRange | null {
  let low: string | null = null;
  let high: string | null = null;
  let found = false;
  const widen = (r: DateRange | null): void => {
    if (!r) return;
    found = true;
    if (r.low !== null && (low === null || r.low < low)) low = r.low;
    if (r.high !== null && (high === null || r.high > high)) high = r.high;
  };
  eachString(data['event'], (e) => widen(dateRange(e)));
  const repeat = data['repeat'];
  if (isObj(repeat) && isObj(repeat['boundsPeriod'])) widen(periodRange(repeat['boundsPeriod']['start'], repeat['boundsPeriod']['end']));
  return found ? { low, high } : null;
}

function addDates(param: string, { data }: TypedValue, out: Out): void {
  let range: DateRange | null = null;
  if (typeof data === 'string') range = dateRange(data);
  else if (isObj(data)) {
    range = 'start' in data || 'end' in data ? periodRange(data['start'], data['end']) : timingRange(data);
  }
  if (range) out.push({ type: 'date', param, low: range.low, high: range.high });
}

function addNumber(param: string, { data }: TypedValue, out: Out): void {
  const r = typeof data === 'number' || typeof data === 'string' ? numberRange(data) : null;
  if (r) out.push({ type: 'number', param, ...r });
}

function addQuantity(param: string, { data, type }: TypedValue, out: Out): void {
  if (!isObj(data)) return;
  const v = data['value'];
  const r = typeof v === 'number' || typeof v === 'string' ? numberRange(v) : null;
  if (!r) return;
  if (type === 'Money' || ('currency' in data && !('unit' in data))) {
    out.push({ type: 'quantity', param, ...r, system: 'urn:iso:std:iso:4217', code: str(data['currency']), unit: null });
    return;
  }
  const system = str(data['system']);
  const code = str(data['code']);
  const canon = system === UCUM_SYSTEM && code !== null ? toUcumCanonical(r.value, code) : null;
  out.push({
    type: 'quantity', param, ...r, system, code, unit: str(data['unit']),
    ...(canon ? { canonValue: canon.value, canonCode: canon.code } : {}),
  });
}

/**
 * A local reference (`#id`, to a contained resource, or `#` alone, from a
 * contained resource to its container) is kept as its url only for the store
 * to resolve: the index key of a contained resource depends on its
 * container's identity, which extraction does not know
 * (src/store/contained.ts, resolveLocalReferences). Unresolved, it is dropped.
 */
function addReference(param: string, { data }: TypedValue, out: Out): void {
  const value = parseReference(data);
  if (value) {
    out.push({ type: 'reference', param, ...value });
    return;
  }
  const literal = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)['reference'] : undefined;
  if (typeof literal === 'string' && literal.startsWith('#')) {
    out.push({ type: 'reference', param, targetType: null, targetId: null, url: literal, version: null, identifierSystem: null, identifierValue: null });
  }
}

function addUri(param: string, { data }: TypedValue, out: Out): void {
  if (typeof data === 'string' && data.length > 0) out.push({ type: 'uri', param, value: data });
}

const ADDERS: Partial<Record<SearchParamType, (param: string, v: TypedValue, out: Out) => void>> = {
  string: addStrings,
  token: addTokens,
  date: addDates,
  number: addNumber,
  quantity: addQuantity,
  reference: addReference,
  uri: addUri,
};

/** Appends the index values of one found element for a parameter of `paramType`. */
export function appendIndexValues(paramType: SearchParamType, param: string, value: TypedValue, out: Out): void {
  ADDERS[paramType]?.(param, value, out);
}

export function supportsParamType(paramType: SearchParamType): boolean {
  return ADDERS[paramType] !== undefined;
}
