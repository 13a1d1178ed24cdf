/**
 * One search value (a single OR alternative, still escaped) → a typed value.
 * Each parser throws SEARCH_INVALID_VALUE naming the parameter; the value
 * itself is never echoed, since search values can be PHI.
 */
import { HavenError } from '../kernel/index.js';
import { toUcumCanonical, UCUM_SYSTEM } from '../fhir/ucum.js';
import { splitFirstUnescaped, splitUnescaped, unescapeValue } from './escape.js';
import { parseDateRange } from './parse-date.js';
import { parseDecimalRange } from './parse-number.js';
import { prefixes } from './query.js';
import type { DateValue, NumberValue, Prefix, QuantityValue, ReferenceValue, SearchValue, TokenValue } from './query.js';

export function invalidValue(param: string, why: string): HavenError {
  return new HavenError('incorrect', 'SEARCH_INVALID_VALUE', `Invalid value for search parameter '${param}': ${why}`, {
    expression: [param],
  });
}

export interface ValueContext {
  param: string;
  normalize: (s: string) => string;
  now: () => Date;
}

/** Splits a leading comparison prefix off; a value starting with other letters has none (eq). */
function splitPrefix(raw: string): [Prefix, string] {
  const head = raw.slice(0, 2);
  if ((prefixes as readonly string[]).includes(head) && raw.length > 2) return [head as Prefix, raw.slice(2)];
  return ['eq', raw];
}

const dayMs = 86_400_000;

export function parseDateValue(raw: string, ctx: ValueContext): DateValue {
  const [prefix, rest] = splitPrefix(raw);
  const range = parseDateRange(unescapeValue(rest));
  if (!range) throw invalidValue(ctx.param, 'expected a FHIR date, dateTime or instant');
  if (prefix !== 'ap') return { kind: 'date', prefix, low: range.low, end: range.end };
  // ap: widen the value's range by 10% of its distance from now (R4's suggestion), at least one day.
  const low = Date.parse(range.low);
  const end = Date.parse(range.end);
  const gap = Math.abs(ctx.now().getTime() - low);
  const slack = Math.max(gap * 0.1, dayMs);
  return { kind: 'date', prefix, low: new Date(low - slack).toISOString(), end: new Date(end + slack).toISOString() };
}

export function parseNumberValue(raw: string, ctx: ValueContext): NumberValue {
  const [prefix, rest] = splitPrefix(raw);
  const range = parseDecimalRange(unescapeValue(rest));
  if (!range) throw invalidValue(ctx.param, 'expected a decimal number');
  return { kind: 'number', prefix, ...range };
}

export function parseQuantityValue(raw: string, ctx: ValueContext): QuantityValue {
  const parts = splitUnescaped(raw, '|');
  if (parts.length !== 1 && parts.length !== 3) {
    throw invalidValue(ctx.param, 'expected [prefix]number or [prefix]number|system|code');
  }
  const number = parseNumberValue(parts[0]!, ctx);
  const system = parts[1] === undefined || parts[1] === '' ? null : unescapeValue(parts[1]);
  const code = parts[2] === undefined || parts[2] === '' ? null : unescapeValue(parts[2]);
  if (system !== null && code === null) throw invalidValue(ctx.param, 'a unit system needs a unit code');
  const canonical = system === UCUM_SYSTEM && code !== null ? ucumCanonical(number, code) : null;
  return { ...number, kind: 'quantity', system, code, ...(canonical ? { canonical } : {}) };
}

/** The search value and its precision bounds in UCUM base units (null for a unit UCUM does not know). */
function ucumCanonical(n: NumberValue, unit: string): QuantityValue['canonical'] | null {
  const value = toUcumCanonical(n.value, unit);
  const low = toUcumCanonical(n.low, unit);
  const end = toUcumCanonical(n.end, unit);
  if (!value || !low || !end) return null;
  return { code: value.code, value: value.value, low: low.value, end: end.value };
}

export function parseTokenValue(raw: string, ctx: ValueContext): TokenValue {
  const pieces = splitFirstUnescaped(raw, '|');
  if (pieces.length === 1) return { kind: 'token', system: { match: 'any' }, code: unescapeValue(pieces[0]) };
  const [system, code] = pieces;
  if (system === '' && code === '') throw invalidValue(ctx.param, 'expected system|code, |code, system| or code');
  const codeValue = code === '' ? null : unescapeValue(code);
  if (system === '') return { kind: 'token', system: { match: 'none' }, code: codeValue };
  return { kind: 'token', system: { match: 'equals', value: unescapeValue(system) }, code: codeValue };
}

const typePattern = /^[A-Z][A-Za-z]{1,63}$/;
const idPattern = /^[A-Za-z0-9\-.]{1,64}$/;
const absolutePattern = /^[a-z][a-z0-9+.-]*:/i;

/**
 * `Type/id` (optionally `/_history/v`, version ignored), bare `id`, or an
 * absolute URL / canonical (`url|version`). `targetType` comes from `:[Type]`.
 */
export function parseReferenceValue(raw: string, ctx: ValueContext, modifierType: string | null): ReferenceValue {
  const value = unescapeValue(raw);
  if (absolutePattern.test(value)) {
    const [url, version] = splitFirstUnescaped(raw, '|');
    return { kind: 'reference', targetType: null, id: null, url: unescapeValue(url), version: version ?? null };
  }
  const segments = value.split('/');
  if (segments.length === 1 && idPattern.test(value)) {
    return { kind: 'reference', targetType: modifierType, id: value, url: null, version: null };
  }
  const [type, id, history] = segments;
  const wellFormed =
    type !== undefined && typePattern.test(type) && id !== undefined && idPattern.test(id) &&
    (segments.length === 2 || (segments.length === 4 && history === '_history'));
  if (!wellFormed) throw invalidValue(ctx.param, 'expected Type/id, id or an absolute URL');
  if (modifierType !== null && modifierType !== type) {
    throw invalidValue(ctx.param, 'the reference type contradicts the :[type] modifier');
  }
  return { kind: 'reference', targetType: type, id, url: null, version: null };
}

export function parseMissingValue(raw: string, ctx: ValueContext): SearchValue {
  if (raw === 'true') return { kind: 'missing', missing: true };
  if (raw === 'false') return { kind: 'missing', missing: false };
  throw invalidValue(ctx.param, ':missing takes true or false');
}
