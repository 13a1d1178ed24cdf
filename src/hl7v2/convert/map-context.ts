import type { Delimiters } from '../model.js';
import type { Settings, ValueTable } from './template-schema.js';

/** Reads one repetition of a composite field: component `c`, subcomponent `s`. */
export interface Composite {
  c(component: number, sub?: number): string | undefined;
}

/** What data-type mappers need besides the value: tables, identifier systems, the zone to assume, a warning sink. */
export interface MapContext {
  readonly settings: Settings;
  readonly sender: string;
  /** Zone for times without one: MSH-7's zone, else the settings'. */
  readonly zone: string | undefined;
  /** The message's delimiters: composites split a repetition once with them (absent: value by value through the segment). */
  readonly delimiters?: Delimiters;
  table(name: string): ValueTable | undefined;
  /** Notes without PHI values: name tables, fields, coding-system names — never field contents. */
  warn(message: string): void;
}

/** Looks `code` up in a value table; warns (without the code) when it is not mapped. */
export function lookup(ctx: MapContext, tableName: string, code: string, where: string): unknown {
  const table = ctx.table(tableName);
  if (!table) {
    ctx.warn(`${where}: value table ${tableName} is not defined`);
    return undefined;
  }
  const hit = table.map[code] ?? table.map[code.toUpperCase()];
  if (hit !== undefined) return hit;
  if (table.default !== undefined) return table.default;
  ctx.warn(`${where}: a code is not in value table ${tableName}; element left out`);
  return undefined;
}

/** Drops undefined members so resources carry only what the message said. */
export function compact<T extends Record<string, unknown>>(obj: T): Partial<T> | undefined {
  // Hot path (every data-type value): a plain loop, no Object.entries arrays.
  const out: Record<string, unknown> = {};
  let any = false;
  for (const k in obj) {
    const v = obj[k];
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    out[k] = v;
    any = true;
  }
  return any ? (out as Partial<T>) : undefined;
}
