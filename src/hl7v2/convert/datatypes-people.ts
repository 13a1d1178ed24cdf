import type { Composite, MapContext } from './map-context.js';
import { compact, lookup } from './map-context.js';
import { dt, hdSystem } from './datatypes-codes.js';

function period(ctx: MapContext, start: string | undefined, end: string | undefined): unknown {
  return compact({ start: dt(ctx, start), end: dt(ctx, end) });
}

function use(ctx: MapContext, table: string, code: string | undefined, where: string): unknown {
  return code === undefined ? undefined : lookup(ctx, table, code, where);
}

/** XPN → HumanName. Surname is FN.1; v2.5+ carries the validity in XPN-12/13 (XPN-10 before). */
export function mapXpn(ctx: MapContext, v: Composite, where: string): unknown {
  const given = [v.c(2), v.c(3)].filter((g) => g !== undefined);
  const suffix = [v.c(4), v.c(6)].filter((s) => s !== undefined);
  return compact({
    use: use(ctx, 'name-use', v.c(7), where),
    family: v.c(1, 1),
    given,
    prefix: v.c(5) === undefined ? [] : [v.c(5)],
    suffix,
    period: period(ctx, v.c(12) ?? v.c(10, 1), v.c(13) ?? v.c(10, 2)),
  });
}

/** XAD → Address. */
export function mapXad(ctx: MapContext, v: Composite, where: string): unknown {
  const line = [v.c(1, 1), v.c(2)].filter((l) => l !== undefined);
  const type = v.c(7);
  const mapped = type === undefined ? undefined : lookup(ctx, 'address-use', type, where);
  const shape = (mapped ?? {}) as { use?: string; type?: string };
  return compact({
    use: shape.use,
    type: shape.type,
    line,
    city: v.c(3),
    district: v.c(9),
    state: v.c(4),
    postalCode: v.c(5),
    country: v.c(6),
    period: period(ctx, v.c(13) ?? v.c(12, 1), v.c(14) ?? v.c(12, 2)),
  });
}

/** XTN → ContactPoint: e-mail from XTN-4, numbers assembled from country/area/local/extension. */
export function mapXtn(ctx: MapContext, v: Composite, where: string): unknown {
  const equipment = v.c(3);
  const system = equipment === undefined ? undefined : lookup(ctx, 'telecom-system', equipment, where);
  const value = system === 'email' ? v.c(4) : phone(v) ?? v.c(4);
  if (value === undefined) return undefined;
  const useCode = v.c(2);
  const mapped = useCode === undefined ? undefined : lookup(ctx, 'telecom-use', useCode, where);
  return compact({
    system: system ?? (v.c(4) !== undefined && v.c(7) === undefined ? 'email' : 'phone'),
    value,
    use: equipment === 'CP' ? 'mobile' : mapped,
    period: period(ctx, v.c(13), v.c(14)),
  });
}

function phone(v: Composite): string | undefined {
  const unformatted = v.c(12);
  if (unformatted !== undefined) return unformatted;
  const local = v.c(7);
  if (local === undefined) return v.c(1);
  const country = v.c(5) === undefined ? '' : `+${v.c(5)} `;
  const area = v.c(6) === undefined ? '' : `(${v.c(6)}) `;
  const ext = v.c(8) === undefined ? '' : ` ext. ${v.c(8)}`;
  return `${country}${area}${local}${ext}`;
}

function personName(v: Composite, first: number): string | undefined {
  const parts = [v.c(first + 4), v.c(first + 1), v.c(first + 2), v.c(first, 1), v.c(first + 3)].filter((p) => p !== undefined);
  return parts.length === 0 ? undefined : parts.join(' ');
}

/**
 * XCN → a logical Reference (identifier + display). Haven does not invent
 * Practitioner resources from message fragments: a provider directory owns them.
 */
export function mapXcn(ctx: MapContext, v: Composite): unknown {
  const id = v.c(1);
  const system = hdSystem(ctx, v.c(9, 1), v.c(9, 2), v.c(9, 3));
  const identifier = id === undefined ? undefined : compact({ system, value: id });
  return compact({ identifier, display: personName(v, 2) });
}

/** XON → a logical Reference to an Organization. */
export function mapXon(ctx: MapContext, v: Composite): unknown {
  const id = v.c(10) ?? v.c(3);
  const system = hdSystem(ctx, v.c(6, 1), v.c(6, 2), v.c(6, 3));
  const identifier = id === undefined ? undefined : compact({ system, value: id });
  return compact({ identifier, display: v.c(1) });
}

/** PL → a display-only Location reference (point of care, room, bed, facility). */
export function mapPl(v: Composite): unknown {
  const parts = [v.c(4, 1), v.c(1, 1), v.c(2, 1), v.c(3, 1)].filter((p) => p !== undefined);
  const display = v.c(9) ?? (parts.length === 0 ? undefined : parts.join(' '));
  return display === undefined ? undefined : { display };
}
