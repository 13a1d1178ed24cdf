import fhirpath from 'fhirpath';
import r4model from 'fhirpath/fhir-context/r4';
import type { UserInvocationTable } from 'fhirpath';
import { splitUnion } from './expression-split.js';
import { referenceTargetType } from './reference.js';
import type { TypedValue } from './to-index-values.js';

export type Evaluator = (resource: object) => TypedValue[];

const RESOLVE_IS = /resolve\(\)\s+is\s+([A-Za-z]+)/g;
const PAREN_AS = /\(([^()]+?)\s+as\s+([A-Za-z]+)\)/g;
const AS_CALL = /\.as\(([A-Za-z]+)\)/g;

/**
 * Adapts official expressions to what fhirpath.js can run:
 * - it cannot resolve references (that needs the store), but the official
 *   parameters only use `resolve()` as `where(resolve() is Type)`, which we
 *   turn into a check of the reference's type prefix;
 * - `as` demands a single item, yet `(Observation.component.value as
 *   Quantity)` meets several; the intended (and usual server) reading is a
 *   filter, i.e. `ofType`.
 */
export function prepareExpression(expression: string): string {
  return expression
    .replace(RESOLVE_IS, (_m, type: string) => `havenRefIs('${type}')`)
    .replace(PAREN_AS, (_m, path: string, type: string) => `(${path.trim()}.ofType(${type}))`)
    .replace(AS_CALL, (_m, type: string) => `.ofType(${type})`);
}

interface NodeLike {
  data: unknown;
  fhirNodeDataType: string | null;
}

function isNode(v: unknown): v is NodeLike {
  return typeof v === 'object' && v !== null && 'fhirNodeDataType' in v && 'data' in v;
}

const userInvocationTable: UserInvocationTable = {
  havenRefIs: {
    fn: (inputs: unknown[], type: string) => inputs.map((n) => referenceTargetType(isNode(n) ? n.data : n) === type),
    arity: { 1: ['String'] },
  },
};

/** Plain JS value of a fhirpath.js result (decimals come back wrapped). */
function plain(v: unknown): unknown {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && v.constructor !== Object) {
    const s = String(v);
    const n = Number(s);
    return Number.isNaN(n) ? s : n;
  }
  return v;
}

function typeCode(t: string | null): string {
  if (!t) return '';
  return t === 'System.String' ? 'string' : t.replace(/^System\./, '').replace(/^FHIR\./, '');
}

function toTyped(item: unknown): TypedValue | null {
  if (isNode(item)) {
    const data = plain(item.data);
    return data === null || data === undefined ? null : { data, type: typeCode(item.fhirNodeDataType) };
  }
  if (item === null || item === undefined) return null;
  return { data: plain(item), type: '' };
}

/**
 * Compiles once with the R4 model; the evaluator returns typed elements.
 * Top-level unions are compiled part by part: fhirpath.js de-duplicates a
 * union with deep equality, which throws on a Quantity with a comparator
 * (the indexer de-duplicates index values itself).
 */
export function compileFhirPath(expression: string): Evaluator {
  const options = { resolveInternalTypes: false, userInvocationTable };
  const fns = splitUnion(prepareExpression(expression)).map((part) => fhirpath.compile(part, r4model, options));
  return (resource) => {
    const out: TypedValue[] = [];
    for (const fn of fns) {
      const result = fn(resource) as unknown;
      for (const item of Array.isArray(result) ? result : [result]) {
        const typed = toTyped(item);
        if (typed) out.push(typed);
      }
    }
    return out;
  };
}
