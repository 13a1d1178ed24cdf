import type { Composite, MapContext } from './map-context.js';
import { compact } from './map-context.js';
import { mapCwe } from './datatypes-codes.js';
import { toFhirDateTime } from './datetime.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)$/;
const COMPARATORS = new Set(['<', '<=', '>=', '>']);

/** A decimal as FHIR JSON wants it (a number), or undefined when the text is not one. */
export function decimal(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  return NUMBER.test(t) ? Number(t) : undefined;
}

/** Units (CWE, usually from OBX-6) → the Quantity's unit/system/code; UCUM when declared so. */
export function units(ctx: MapContext, u: Composite | undefined): Record<string, unknown> {
  const code = u?.c(1);
  if (u === undefined || code === undefined) return {};
  const sys = (u.c(3) ?? '').toUpperCase();
  const ucum = sys === 'UCUM' || sys === 'ANS+' || (ctx.table('ucum-units')?.map[code] !== undefined && sys === '');
  return compact({ unit: u.c(2) ?? code, system: ucum ? 'http://unitsofmeasure.org' : undefined, code: ucum ? code : undefined }) ?? {};
}

function quantity(ctx: MapContext, value: number, u: Composite | undefined, comparator?: string): unknown {
  return { value, ...(comparator !== undefined ? { comparator } : {}), ...units(ctx, u) };
}

/** SN (comparator, num1, separator, num2) → Quantity, Range or Ratio. */
function structuredNumeric(ctx: MapContext, v: Composite, u: Composite | undefined): [string, unknown] | undefined {
  const cmp = v.c(1);
  const n1 = decimal(v.c(2));
  const sep = v.c(3);
  const n2 = decimal(v.c(4));
  if (sep === ':' || sep === '/') {
    if (n1 === undefined || n2 === undefined) return undefined;
    return ['valueRatio', { numerator: { value: n1 }, denominator: { value: n2 } }];
  }
  if (sep === '-' && n1 !== undefined && n2 !== undefined) {
    return ['valueRange', { low: quantity(ctx, n1, u), high: quantity(ctx, n2, u) }];
  }
  if (n1 === undefined) return undefined;
  return ['valueQuantity', quantity(ctx, n1, u, cmp !== undefined && COMPARATORS.has(cmp) ? cmp : undefined)];
}

/**
 * OBX-5 by OBX-2 → Observation.value[x] (element name, value). ED/RP have no
 * R4 Observation value type; those go to report/document templates instead.
 */
export function observationValue(ctx: MapContext, valueType: string | undefined, v: Composite, text: string | undefined, u: Composite | undefined, where: string): [string, unknown] | undefined {
  switch ((valueType ?? 'ST').toUpperCase()) {
    case 'NM': {
      const n = decimal(v.c(1));
      if (n !== undefined) return ['valueQuantity', quantity(ctx, n, u)];
      ctx.warn(`${where}: OBX-2 says NM but OBX-5 is not a number; kept as valueString`);
      return text === undefined ? undefined : ['valueString', text];
    }
    case 'SN':
      return structuredNumeric(ctx, v, u);
    case 'CWE': case 'CE': case 'CNE': case 'CF': {
      const cc = mapCwe(ctx, v, where);
      return cc === undefined ? undefined : ['valueCodeableConcept', cc];
    }
    case 'DT': case 'TS': case 'DTM': {
      const d = toFhirDateTime(v.c(1) ?? '', ctx.zone);
      return d === undefined ? undefined : ['valueDateTime', d.value];
    }
    case 'TM': {
      const m = /^(\d{2})(\d{2})?(\d{2})?/.exec(v.c(1) ?? '');
      return m ? ['valueTime', `${m[1]}:${m[2] ?? '00'}:${m[3] ?? '00'}`] : undefined;
    }
    case 'ST': case 'TX': case 'FT': case 'ID': case 'IS':
      return text === undefined ? undefined : ['valueString', text];
    case 'ED': case 'RP':
      return undefined;
    default:
      ctx.warn(`${where}: OBX-2 value type ${(valueType ?? '').slice(0, 4)} is not mapped; value left out`);
      return undefined;
  }
}
