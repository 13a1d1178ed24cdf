/**
 * `_sort=-date,_id`: comma-separated keys, `-` for descending (R4 §3.1.1.6.3).
 */
import type { SearchParamRegistry } from '../fhir/index.js';
import { invalidValue } from './parse-values.js';
import type { SortKey } from './query.js';

const sortable = new Set(['string', 'token', 'date', 'reference', 'number', 'quantity', 'uri']);

export function parseSort(value: string, resourceType: string, registry: SearchParamRegistry): SortKey[] {
  return value.split(',').map((raw) => {
    const descending = raw.startsWith('-');
    const param = descending ? raw.slice(1) : raw;
    if (param === '_id') return { param, kind: 'id', descending };
    if (param === '_lastUpdated') return { param, kind: 'lastUpdated', descending };
    const def = registry.get(resourceType, param);
    if (def === undefined || def.expression === null || !sortable.has(def.type)) {
      throw invalidValue('_sort', `cannot sort ${resourceType} by '${param}'`);
    }
    const sources = registry.rowParams?.(resourceType, param);
    return { param, kind: def.type as SortKey['kind'], descending, ...(sources ? { rowParams: sources } : {}) };
  });
}
