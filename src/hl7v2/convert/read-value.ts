import type { Hl7Segment, Hl7ValuePath } from '../model.js';
import type { Composite, MapContext } from './map-context.js';
import type { FieldRule } from './template-schema.js';
import { mapCoding, mapCwe, mapCx, mapEi, mapHd, mapId } from './datatypes-codes.js';
import { mapPl, mapXad, mapXcn, mapXon, mapXpn, mapXtn } from './datatypes-people.js';
import { decimal, observationValue } from './observation-value.js';
import { toFhirDate, toFhirDateTime, toFhirInstant } from './datetime.js';
import { compact } from './map-context.js';

/** A field path split once: `OBR-7.1` → segment OBR, field 7, component 1. */
export interface SourcePath {
  segment?: string;
  field: number;
  component?: number;
  sub?: number;
}

const pathCache = new Map<string, SourcePath>();

export function sourcePath(text: string): SourcePath {
  let p = pathCache.get(text);
  if (p) return p;
  const dash = text.indexOf('-');
  const segment = dash > 0 ? text.slice(0, dash) : undefined;
  const [f, c, s] = text.slice(dash + 1).split('.').map(Number);
  p = { field: f!, ...(segment ? { segment } : {}), ...(c ? { component: c } : {}), ...(s ? { sub: s } : {}) };
  pathCache.set(text, p);
  return p;
}

const splitPaths = new Map<number, Hl7ValuePath>();

/** The value at field[rep].comp.sub, through the segment's fast path when it has one. */
export function valueAt(seg: Hl7Segment, field: number, rep: number, comp: number, sub: number): string | undefined {
  if (seg.valueAt === undefined) return seg.get(`${field}[${rep}].${comp}.${sub}`);
  const k = ((field * 1024 + rep) * 1024 + comp) * 1024 + sub;
  let p = splitPaths.get(k);
  if (!p) {
    p = { segmentIndex: 1, field, repetition: rep, component: comp, subcomponent: sub };
    splitPaths.set(k, p);
  }
  return seg.valueAt(p);
}

/** One repetition as a composite: component/subcomponent access under the path. */
export function composite(seg: Hl7Segment, p: SourcePath, rep: number): Composite {
  const f = p.field;
  const comp = p.component;
  if (comp !== undefined) return { c: (i, s) => (s === undefined || s === 1 ? trimmed(valueAt(seg, f, rep, comp, i)) : undefined) };
  return { c: (i, s) => trimmed(valueAt(seg, f, rep, i, s ?? 1)) };
}

// Senders pad components ("Ann Arbor "); FHIR strings should not carry that.
function trimmed(v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

/** The plain text at the path in one repetition (first component unless the path names one). */
export function text(seg: Hl7Segment, p: SourcePath, rep: number): string | undefined {
  return valueAt(seg, p.field, rep, p.component ?? 1, p.sub ?? 1);
}

/** Maps one repetition of the rule's source with its data type; undefined when empty or unmappable. */
export function mapRepetition(ctx: MapContext, rule: FieldRule, seg: Hl7Segment, p: SourcePath, rep: number, where: string): unknown {
  const type = rule.type ?? 'ST';
  switch (type) {
    case 'XPN': return mapXpn(ctx, composite(seg, p, rep), where);
    case 'CX': return mapCx(ctx, composite(seg, p, rep));
    case 'XAD': return mapXad(ctx, composite(seg, p, rep), where);
    case 'XTN': return mapXtn(ctx, composite(seg, p, rep), where);
    case 'CWE': return mapCwe(ctx, composite(seg, p, rep), where);
    case 'Coding': return mapCoding(ctx, composite(seg, p, rep), where);
    case 'EI': return mapEi(ctx, composite(seg, p, rep));
    case 'HD': return mapHd(ctx, composite(seg, p, rep));
    case 'XCN': return mapXcn(ctx, composite(seg, p, rep));
    case 'XON': return mapXon(ctx, composite(seg, p, rep));
    case 'PL': return mapPl(composite(seg, p, rep));
    case 'CQ': return cq(composite(seg, p, rep));
    case 'DR': return dr(ctx, composite(seg, p, rep));
    case 'ED': return ed(composite(seg, p, rep));
    case 'ObservationValue': case 'base64Text': return undefined; // whole-field types: handled by the caller
    case 'ST': case 'text': case 'ID': case 'NM': case 'SI': case 'boolean': case 'DT': case 'DTM': case 'instant': case 'Annotation':
      return scalar(ctx, rule, text(seg, p, rep), where);
  }
}

type Scalar = (ctx: MapContext, rule: FieldRule, v: string, where: string) => unknown;

const SCALARS: Partial<Record<string, Scalar>> = {
  ID: (ctx, rule, v, where) => mapId(ctx, v, rule.table, where),
  NM: (ctx, _r, v, where) => decimal(v) ?? warnUndefined(ctx, `${where}: not a number; left out`),
  SI: (ctx, _r, v, where) => (/^\d+$/.test(v) ? Number(v) : warnUndefined(ctx, `${where}: not an integer; left out`)),
  boolean: (_c, _r, v) => (v === 'Y' ? true : v === 'N' ? false : undefined),
  DT: (ctx, _r, v, where) => toFhirDate(v) ?? warnUndefined(ctx, `${where}: not a valid date; left out`),
  DTM: (ctx, _r, v, where) => dateTime(ctx, v, where),
  instant: (ctx, _r, v, where) => toFhirInstant(v, ctx.zone) ?? warnUndefined(ctx, `${where}: no full time with zone for an instant; left out`),
  Annotation: (_c, _r, v) => ({ text: v }),
};

function scalar(ctx: MapContext, rule: FieldRule, t: string | undefined, where: string): unknown {
  if (t === undefined) return undefined;
  const v = t.trim();
  if (v === '') return undefined;
  const map = SCALARS[rule.type ?? 'ST'];
  if (map) return map(ctx, rule, v, where);
  return rule.table === undefined ? v : mapId(ctx, v, rule.table, where);
}

function dateTime(ctx: MapContext, v: string, where: string): string | undefined {
  const d = toFhirDateTime(v, ctx.zone);
  if (d === undefined) return warnUndefined(ctx, `${where}: not a valid timestamp; left out`);
  if (d.truncated) ctx.warn(`${where}: time without a zone (none in MSH-7 or settings); kept to the day`);
  return d.value;
}

function warnUndefined(ctx: MapContext, message: string): undefined {
  ctx.warn(message);
  return undefined;
}

function cq(v: Composite): unknown {
  const value = decimal(v.c(1));
  if (value === undefined) return undefined;
  const unit = v.c(2);
  return { value, ...(unit === undefined ? {} : { unit }) };
}

function dr(ctx: MapContext, v: Composite): unknown {
  const start = v.c(1) === undefined ? undefined : toFhirDateTime(v.c(1)!, ctx.zone)?.value;
  const end = v.c(2) === undefined ? undefined : toFhirDateTime(v.c(2)!, ctx.zone)?.value;
  return compact({ start, end });
}

const MIME = /^[a-z]+\/[a-z0-9.+-]+$/;
const BASE64 = /^[A-Za-z0-9+/\s]+={0,2}$/;

/** ED (source, type, subtype, encoding, data) → Attachment. */
function ed(v: Composite): unknown {
  const data = v.c(5);
  if (data === undefined) return undefined;
  const type = (v.c(2) ?? '').toLowerCase();
  const sub = (v.c(3) ?? '').toLowerCase();
  const guess = sub.includes('/') ? sub : type === 'text' || type === 'tx' ? `text/${sub || 'plain'}` : `${type === 'ap' || type === '' ? 'application' : type}/${sub}`;
  const contentType = MIME.test(guess) ? guess : 'application/octet-stream';
  const isBase64 = (v.c(4) ?? '').toLowerCase() === 'base64' && BASE64.test(data) && data.replace(/\s/g, '').length % 4 === 0;
  return { contentType, data: isBase64 ? data.replace(/\s/g, '') : Buffer.from(data, 'utf8').toString('base64') };
}

/** OBX-5 with OBX-2 and OBX-6 → [value[x] element name, value]. */
export function mapObservationValue(ctx: MapContext, rule: FieldRule, seg: Hl7Segment, where: string): [string, unknown] | undefined {
  const p = sourcePath(rule.from ?? '5');
  const typeCode = seg.get(sourcePath(rule.typeFrom ?? '2').field.toString());
  const reps = seg.repetitions(p.field);
  if (reps === 0) return undefined;
  const all: string[] = [];
  for (let r = 1; r <= reps; r++) all.push(text(seg, p, r) ?? '');
  const joined = all.join('\n').trim() || undefined;
  const u = rule.unitFrom === undefined ? undefined : composite(seg, sourcePath(rule.unitFrom), 1);
  const isText = ['ST', 'TX', 'FT'].includes((typeCode ?? 'ST').toUpperCase());
  if (reps > 1 && !isText) ctx.warn(`${where}: repeated OBX-5 values; only the first is mapped`);
  return observationValue(ctx, typeCode, composite(seg, p, 1), joined, u, where);
}
