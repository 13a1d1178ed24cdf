/**
 * One `name[:modifier]=value` search parameter whose definition is known →
 * a Criterion. Decides which modifiers each parameter type accepts (R4
 * §3.1.1.5) and parses every comma-separated alternative.
 */
import { HavenError } from '../kernel/index.js';
import type { SearchParamDef } from '../fhir/index.js';
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
import type { Criterion, IndexKind, Modifier, SearchValue } from './query.js';

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
  token: ['not', 'text', 'missing'],
  date: ['missing'],
  number: ['missing'],
  quantity: ['missing'],
  reference: ['missing', 'type'],
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
      return parseTokenValue(raw, ctx);
    case 'date':
      return parseDateValue(raw, ctx);
    case 'number':
      return parseNumberValue(raw, ctx);
    case 'quantity':
      return parseQuantityValue(raw, ctx);
    case 'reference':
      return parseReferenceValue(raw, ctx, type);
    case 'uri':
      return { kind: 'uri', value: unescapeValue(raw) };
  }
}

export function parseCriterion(
  def: SearchParamDef,
  rawModifier: string | null,
  rawValue: string,
  base: Omit<ValueContext, 'param'>,
): Criterion {
  const kind = indexKindOf(def);
  const [modifier, type] = resolveModifier(def, kind, rawModifier);
  const ctx: ValueContext = { ...base, param: def.code };
  const values = splitUnescaped(rawValue, ',').map((piece) => {
    if (piece === '') throw invalidValue(def.code, 'empty alternative in a comma-separated list');
    return parseOne(kind, modifier, piece, ctx, type);
  });
  return { param: def.code, kind, modifier, values };
}
