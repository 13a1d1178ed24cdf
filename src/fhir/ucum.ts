import { createRequire } from 'node:module';

/**
 * UCUM canonical form for quantity search: a value in any UCUM unit becomes a
 * value in base units plus a canonical unit code (mg → g, mm[Hg] →
 * g.m-1.s-2), so `5.4|http://unitsofmeasure.org|mg` finds 0.0054 g. The
 * conversion comes from @lhncbc/ucum-lhc (the NLM's UCUM implementation);
 * linear units are cached as a factor per unit code, so extraction pays the
 * library's parse once per distinct unit.
 */
export const UCUM_SYSTEM = 'http://unitsofmeasure.org';

interface BaseUnits {
  status: string;
  magnitude?: number;
  unitToExp?: Record<string, number>;
  fromUnitIsSpecial?: boolean;
}
interface UcumUtils {
  convertToBaseUnits(unit: string, value: number): BaseUnits;
}
interface UcumPackage {
  UcumLhcUtils: { getInstance(): UcumUtils };
}

type Conversion = { linear: true; factor: number; code: string } | { linear: false; code: string } | null;

const MAX_CACHED_UNITS = 10_000;
const cache = new Map<string, Conversion>();
let utils: UcumUtils | null = null;

/** Loaded on first use: the unit tables cost ~30 ms, which servers that never see a quantity need not pay. */
function ucum(): UcumUtils {
  if (utils === null) {
    const require = createRequire(import.meta.url);
    utils = (require('@lhncbc/ucum-lhc') as UcumPackage).UcumLhcUtils.getInstance();
  }
  return utils;
}

function canonicalCode(unitToExp: Record<string, number>): string {
  const keys = Object.keys(unitToExp).filter((k) => unitToExp[k] !== 0).sort();
  if (keys.length === 0) return '1';
  return keys.map((k) => (unitToExp[k] === 1 ? k : `${k}${unitToExp[k]}`)).join('.');
}

function conversionOf(unit: string): Conversion {
  const cached = cache.get(unit);
  if (cached !== undefined) return cached;
  let conversion: Conversion = null;
  try {
    const r = ucum().convertToBaseUnits(unit, 1);
    if (r.status === 'succeeded' && r.unitToExp && typeof r.magnitude === 'number') {
      const code = canonicalCode(r.unitToExp);
      conversion = r.fromUnitIsSpecial ? { linear: false, code } : { linear: true, factor: r.magnitude, code };
    }
  } catch {
    conversion = null;
  }
  // Unit codes come from data; bound the cache so odd input cannot grow it without limit.
  if (cache.size < MAX_CACHED_UNITS) cache.set(unit, conversion);
  return conversion;
}

/** 15 significant digits drop binary noise (5.4 × 0.001 = 0.0054000000000000005). */
function decimal(n: number): string | null {
  return Number.isFinite(n) ? String(Number(n.toPrecision(15))) : null;
}

/** The canonical unit code of a UCUM unit, or null when the code is not valid UCUM. */
export function ucumCanonicalCode(unit: string): string | null {
  return conversionOf(unit)?.code ?? null;
}

/** `value` (decimal text) in `unit` converted to base units, or null when the unit is not valid UCUM. */
export function toUcumCanonical(value: string, unit: string): { value: string; code: string } | null {
  const conversion = conversionOf(unit);
  const n = Number(value);
  if (conversion === null || !Number.isFinite(n)) return null;
  if (conversion.linear) {
    const v = decimal(n * conversion.factor);
    return v === null ? null : { value: v, code: conversion.code };
  }
  // Special units (Cel, [degF], pH …) are not proportional: ask the library for each value.
  const r = ucum().convertToBaseUnits(unit, n);
  const v = r.status === 'succeeded' && typeof r.magnitude === 'number' ? decimal(r.magnitude) : null;
  return v === null ? null : { value: v, code: conversion.code };
}
