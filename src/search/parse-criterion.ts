/**
 * One `name[:modifier]=value` search parameter whose definition is known →
 * a Criterion. Decides which modifiers each parameter type accepts (R4
 * §3.1.1.5) and parses every comma-separated alternative.
 */
import { HavenError } from '../kernel/index.js';
import type { SearchParamDef, SearchParamRegistry } from '../fhir/index.js';
import { splitUnescaped, unescapeValue } from './escape.js';
import {
  invalidValue,
  parseDateValue,
  parseMissingValue,
  parseNumberValue,
  parseQuantityValue,
  parseReferenceValue,
  parseTokenValue,
} from './parse-values.js';
import type { ValueContext } from './parse-values.js';
import type { CompositePart, Criterion, IndexKind, Modifier, SearchValue } from './query.js';

export function unsupportedModifier(param: string, modifier: string): HavenError {
  return new HavenError(
    'incorrect',
    'SEARCH_UNSUPPORTED_MODIFIER',
    `Modifier ':${modifier}' is not supported on search parameter '${param}'`,
    { expression: [`${param}:${modifier}`] },
  );
}

export function unsupportedParam(param: string, why: string): HavenError {
  return new HavenError('incorrect', 'SEARCH_UNSUPPORTED_PARAM', `Search parameter '${param}' is not supported: ${why}`, {
    expression: [param],
  });
}

const modifiersByKind: Record<IndexKind, readonly Modifier[]> = {
  string: ['exact', 'contains', 'missing'],
  token: ['not', 'text', 'missing', 'of-type', 'in', 'not-in', 'above', 'below'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  reference: ['missing', 'type', 'identifier'],
  uri: ['above', 'below', 'missing'],
};

function indexKindOf(def: SearchParamDef): IndexKind {
  switch (def.type) {
    case 'string':
    case 'token':
    case 'date':
    case 'reference':
    case 'number':
    case 'quantity':
    case 'uri':
      if (def.expression === null) throw unsupportedParam(def.code, 'it is not indexed');
      return def.type;
    case 'composite':
    case 'special':
      throw unsupportedParam(def.code, `${def.type} parameters are not supported yet`);
  }
}

/** Token `:of-type=system|code|value` → the `<param>:of-type` rows (src/fhir/to-index-values.ts). */
function ofTypeValue(raw: string, ctx: ValueContext): SearchValue {
  const parts = splitUnescaped(raw, '|');
  if (parts.length !== 3 || parts[1] === '' || parts[2] === '') throw invalidValue(ctx.param, ':of-type expects system|code|value');
  const [system, code, value] = parts.map(unescapeValue) as [string, string, string];
  return { kind: 'token', system: system === '' ? { match: 'none' } : { match: 'equals', value: system }, code: `${code}|${value}` };
}

function subsumptionValue(direction: 'above' | 'below', raw: string, ctx: ValueContext): SearchValue {
  const v = parseTokenValue(raw, ctx);
  if (v.system.match !== 'equals' || v.code === null) throw invalidValue(ctx.param, `:${direction} on a code expects system|code`);
  return { kind: 'subsumption', direction, system: v.system.value, code: v.code };
}

function identifierValue(raw: string): SearchValue {
  const parts = splitUnescaped(raw, '|');
  if (parts.length === 1) return { kind: 'identifier', system: null, value: unescapeValue(raw) };
  const [system, ...rest] = parts;
  return { kind: 'identifier', system: system === '' ? null : unescapeValue(system!), value: unescapeValue(rest.join('|')) };
}

/** Validates the modifier text; returns it with the `:[Type]` target, if any. */
function resolveModifier(def: SearchParamDef, kind: IndexKind, raw: string | null): [Modifier | null, string | null] {
  if (raw === null) return [null, null];
  if (kind === 'reference' && /^[A-Z]/.test(raw)) {
    if (def.target.length > 0 && !def.target.includes(raw)) throw unsupportedModifier(def.code, raw);
    return ['type', raw];
  }
  const allowed = modifiersByKind[kind] as readonly string[];
  if (!allowed.includes(raw) || raw === 'type') throw unsupportedModifier(def.code, raw);
  return [raw as Modifier, null];
}

function parseOne(kind: IndexKind, modifier: Modifier | null, raw: string, ctx: ValueContext, type: string | null): SearchValue {
  if (modifier === 'missing') return parseMissingValue(raw, ctx);
  switch (kind) {
    case 'string': {
      const value = unescapeValue(raw);
      return { kind: 'string', value, norm: ctx.normalize(value) };
    }
    case 'token':
      if (modifier === 'text') return { kind: 'text', norm: ctx.normalize(unescapeValue(raw)) };
      if (modifier === 'of-type') return ofTypeValue(raw, ctx);
      if (modifier === 'in' || modifier === 'not-in') return { kind: 'valueset', url: unescapeValue(raw) };
      if (modifier === 'above' || modifier === 'below') return subsumptionValue(modifier, raw, ctx);
      return parseTokenValue(raw, ctx);
    case 'date':
      return parseDateValue(raw, ctx);
    case 'number':
      return parseNumberValue(raw, ctx);
    case 'quantity':
      return parseQuantityValue(raw, ctx);
    case 'reference':
      if (modifier === 'identifier') return identifierValue(raw);
      return parseReferenceValue(raw, ctx, type);
    case 'uri':
      return { kind: 'uri', value: unescapeValue(raw) };
  }
}

const componentKinds: ReadonlySet<string> = new Set(['string', 'token', 'date', 'reference', 'number', 'quantity', 'uri']);

/** `a$b` per component (R4 §3.1.1.4.10); component values take no modifiers or commas of their own. */
function parseComposite(def: SearchParamDef, rawModifier: string | null, rawValue: string, ctx: ValueContext, registry?: SearchParamRegistry): Criterion {
  if (rawModifier !== null) throw unsupportedModifier(def.code, rawModifier);
  const kinds = def.component.map((c) => registry?.byUrl?.(c.definition)?.type);
  if (kinds.length === 0 || kinds.some((k) => k === undefined || !componentKinds.has(k))) {
    throw unsupportedParam(def.code, 'its components cannot be resolved');
  }
  const values = splitUnescaped(rawValue, ',').map((piece): SearchValue => {
    const pieces = splitUnescaped(piece, '$');
    if (pieces.length !== kinds.length || pieces.some((x) => x === '')) {
      throw invalidValue(def.code, `expected ${kinds.length} components separated by $`);
    }
    const parts = pieces.map((raw, k): CompositePart => {
      const kind = kinds[k] as IndexKind;
      return { kind, param: `${def.code}$${k}`, value: parseOne(kind, null, raw, ctx, null) };
    });
    return { kind: 'composite', parts };
  });
  return { param: def.code, kind: 'composite', modifier: null, values };
}

export function parseCriterion(
  def: SearchParamDef,
  rawModifier: string | null,
  rawValue: string,
  base: Omit<ValueContext, 'param'>,
  registry?: SearchParamRegistry,
): Criterion {
  if (def.type === 'composite' && def.expression !== null) return parseComposite(def, rawModifier, rawValue, { ...base, param: def.code }, registry);
  const kind = indexKindOf(def);
  const [modifier, type] = resolveModifier(def, kind, rawModifier);
  const ctx: ValueContext = { ...base, param: def.code };
  const values = splitUnescaped(rawValue, ',').map((piece) => {
    if (piece === '') throw invalidValue(def.code, 'empty alternative in a comma-separated list');
    return parseOne(kind, modifier, piece, ctx, type);
  });
  // :of-type rows live under their own parameter name and then match as plain tokens.
  if (modifier === 'of-type') return { param: `${def.code}:of-type`, kind, modifier: null, values };
  return { param: def.code, kind, modifier, values };
}
