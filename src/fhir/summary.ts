import type { ElementInfo, TypeElements } from './definitions.js';

export type SummaryMode = 'true' | 'text' | 'data' | 'false';

type Json = Record<string, unknown>;

export interface SummaryHelpers {
  /** `_summary` per R4: a new resource, the input is not changed. */
  applySummary<T extends object>(resource: T, mode: SummaryMode): T;
  /** `_elements` per R4: listed top-level elements plus id, meta and mandatory elements. */
  applyElements<T extends object>(resource: T, elements: readonly string[]): T;
}

export const SUBSETTED_TAG = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
} as const;

/** The element definition for a JSON key at `path`, including `valueQuantity` → `value[x]` and `_birthDate`. */
export function elementFor(els: TypeElements, path: string, key: string): ElementInfo | undefined {
  const name = key.startsWith('_') ? key.slice(1) : key;
  const direct = els[`${path}.${name}`];
  if (direct) return direct;
  for (let i = name.length - 1; i > 0; i--) {
    const ch = name.charCodeAt(i);
    if (ch < 65 || ch > 90) continue; // choice suffixes start with an upper-case letter
    const el = els[`${path}.${name.slice(0, i)}`];
    if (el?.choice) return el;
  }
  return undefined;
}

/** Adds the SUBSETTED tag: clients must know they did not get the whole resource. */
function markSubsetted(out: Json): void {
  const meta = typeof out['meta'] === 'object' && out['meta'] !== null ? { ...(out['meta'] as Json) } : {};
  const tags = Array.isArray(meta['tag']) ? [...(meta['tag'] as Json[])] : [];
  if (!tags.some((t) => t['system'] === SUBSETTED_TAG.system && t['code'] === SUBSETTED_TAG.code)) tags.push({ ...SUBSETTED_TAG });
  meta['tag'] = tags;
  out['meta'] = meta;
}

function summarizeValue(els: TypeElements, path: string, value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map((v) => summarizeValue(els, path, v)).filter((v) => v !== undefined);
    return items.length > 0 ? items : undefined;
  }
  if (typeof value !== 'object' || value === null) return value;
  const out = summarizeObject(els, path, value as Json);
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Keeps summary and mandatory elements; recurses only into backbone elements (datatypes stay whole). */
function summarizeObject(els: TypeElements, path: string, obj: Json): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'resourceType') {
      out[key] = value;
      continue;
    }
    const el = elementFor(els, path, key);
    if (!el || !(el.summary || el.min > 0)) continue;
    const kept = el.backbone && !key.startsWith('_') ? summarizeValue(els, el.contentRef ?? `${path}.${key}`, value) : value;
    if (kept !== undefined) out[key] = kept;
  }
  return out;
}

function isMandatory(els: TypeElements, type: string, key: string): boolean {
  return (elementFor(els, type, key)?.min ?? 0) > 0;
}

const ALWAYS = new Set(['resourceType', 'id', 'meta']);

function pick(obj: Json, keep: (key: string) => boolean): Json {
  const out: Json = {};
  for (const [key, value] of Object.entries(obj)) if (keep(key)) out[key] = value;
  return out;
}

export function createSummaryHelpers(elements: Readonly<Record<string, TypeElements>>): SummaryHelpers {
  const empty: TypeElements = {};
  return {
    applySummary<T extends object>(resource: T, mode: SummaryMode): T {
      if (mode === 'false') return resource;
      const obj = resource as Json;
      const type = String(obj['resourceType'] ?? '');
      const els = elements[type] ?? empty;
      let out: Json;
      if (mode === 'true') out = summarizeObject(els, type, obj);
      else if (mode === 'text') out = pick(obj, (k) => ALWAYS.has(k) || k === 'text' || isMandatory(els, type, k));
      else out = pick(obj, (k) => k !== 'text');
      markSubsetted(out);
      return out as T;
    },
    applyElements<T extends object>(resource: T, wanted: readonly string[]): T {
      const obj = resource as Json;
      const type = String(obj['resourceType'] ?? '');
      const els = elements[type] ?? empty;
      // `_elements=Patient.name` and `_elements=name` mean the same; `value` covers valueQuantity etc.
      const names = new Set(wanted.map((w) => (w.startsWith(`${type}.`) ? w.slice(type.length + 1) : w).replace(/\[x\]$/, '')));
      const keep = (key: string): boolean => {
        if (ALWAYS.has(key) || isMandatory(els, type, key)) return true;
        const bare = key.startsWith('_') ? key.slice(1) : key;
        if (names.has(bare)) return true;
        const el = elementFor(els, type, key);
        return el?.choice !== null && el !== undefined && [...names].some((n) => bare.startsWith(n) && els[`${type}.${n}`] === el);
      };
      const out = pick(obj, keep);
      markSubsetted(out);
      return out as T;
    },
  };
}
