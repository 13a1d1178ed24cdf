import type { Composite, MapContext } from './map-context.js';
import { compact, lookup } from './map-context.js';
import { toFhirDateTime } from './datetime.js';

const V2_TABLE = /^HL7(\d{4})$/i;

/** The URI of an HL7 coding-system name (table 0396): LN → http://loinc.org, HL70001 → v2-0001. */
export function codingSystem(ctx: MapContext, name: string, where: string): string | undefined {
  const table = ctx.table('coding-systems');
  const hit = table?.map[name] ?? table?.map[name.toUpperCase()];
  if (typeof hit === 'string') return hit;
  const v2 = V2_TABLE.exec(name);
  if (v2) return `http://terminology.hl7.org/CodeSystem/v2-${v2[1]}`;
  if (/^(urn:|https?:\/\/)/.test(name)) return name;
  // L and 99zzz are local codes by definition (table 0396): no system to name, nothing to warn about.
  if (name === 'L' || /^99[A-Za-z0-9]{3}$/.test(name)) return undefined;
  // Names of coding systems are not PHI; they tell an integrator which table row to add.
  ctx.warn(`${where}: coding system ${name.slice(0, 20)} is not in tables/coding-systems.json; coding kept without system`);
  return undefined;
}

function coding(ctx: MapContext, v: Composite, at: number, version: string | undefined, where: string): Record<string, unknown> | undefined {
  const code = v.c(at);
  const display = v.c(at + 1);
  const sysName = v.c(at + 2);
  if (code === undefined) return undefined;
  const system = sysName === undefined ? undefined : codingSystem(ctx, sysName, where);
  return compact({ system, version: system === undefined ? undefined : version, code: code.trim(), display });
}

/** CWE/CE/CNE → CodeableConcept: primary and alternate triplets, original text. */
export function mapCwe(ctx: MapContext, v: Composite, where: string): unknown {
  const codings = [coding(ctx, v, 1, v.c(7), where), coding(ctx, v, 4, v.c(8), where)].filter((c) => c !== undefined);
  const text = v.c(9) ?? (codings.length === 0 ? v.c(2) : undefined);
  return compact({ coding: codings, text });
}

/** CWE → the first Coding alone. */
export function mapCoding(ctx: MapContext, v: Composite, where: string): unknown {
  return coding(ctx, v, 1, v.c(7), where);
}

/** HD (namespace, universal id, universal id type) → identifier system URI. */
export function hdSystem(ctx: MapContext, ns: string | undefined, uid: string | undefined, uidType: string | undefined): string | undefined {
  if (uid !== undefined) {
    const t = (uidType ?? '').toUpperCase();
    if (t === 'ISO' || /^\d+(\.\d+)+$/.test(uid)) return `urn:oid:${uid}`;
    if ((t === 'UUID' || t === 'GUID') && /^[0-9a-f-]{36}$/i.test(uid)) return `urn:uuid:${uid.toLowerCase()}`;
    if (/^(urn:|https?:\/\/)/.test(uid)) return uid;
  }
  const name = ns ?? uid;
  if (name === undefined) return undefined;
  const known = ctx.table('assigning-authorities')?.map[name];
  if (typeof known === 'string') return known;
  return ctx.settings.namespaceSystem.replace('{sender}', encodeURIComponent(ctx.sender)).replace('{namespace}', encodeURIComponent(name));
}

function localSystem(ctx: MapContext): string {
  return ctx.settings.localIdentifierSystem.replace('{sender}', encodeURIComponent(ctx.sender));
}

function identifierType(ctx: MapContext, code: string | undefined): unknown {
  if (code === undefined) return undefined;
  const mapped = ctx.table('identifier-type')?.map[code];
  if (mapped !== undefined) return mapped;
  return { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code }] };
}

/** CX → Identifier; the assigning authority (CX-4) becomes the system. */
export function mapCx(ctx: MapContext, v: Composite): unknown {
  const value = v.c(1);
  if (value === undefined) return undefined;
  const system = hdSystem(ctx, v.c(4, 1), v.c(4, 2), v.c(4, 3)) ?? localSystem(ctx);
  const period = compact({ start: dt(ctx, v.c(7)), end: dt(ctx, v.c(8)) });
  return compact({ type: identifierType(ctx, v.c(5)), system, value, period });
}

/** EI (entity id, namespace, universal id, type) → Identifier. */
export function mapEi(ctx: MapContext, v: Composite): unknown {
  const value = v.c(1);
  if (value === undefined) return undefined;
  return { system: hdSystem(ctx, v.c(2), v.c(3), v.c(4)) ?? localSystem(ctx), value };
}

/** HD → its system URI (for senders, facilities). */
export function mapHd(ctx: MapContext, v: Composite): unknown {
  return hdSystem(ctx, v.c(1), v.c(2), v.c(3));
}

export function dt(ctx: MapContext, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  return toFhirDateTime(text, ctx.zone)?.value;
}

/** ID/IS with a table → the table's value; without → the code itself. */
export function mapId(ctx: MapContext, code: string, table: string | undefined, where: string): unknown {
  return table === undefined ? code : lookup(ctx, table, code, where);
}
