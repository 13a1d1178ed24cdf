import type { Delimiters, Hl7Segment, Hl7ValuePath } from '../model.js';
import type { Composite, MapContext } from './map-context.js';
import type { FieldRule } from './template-schema.js';
import { mapCoding, mapCwe, mapCx, mapEi, mapHd, mapId } from './datatypes-codes.js';
import { mapPl, mapXad, mapXcn, mapXon, mapXpn, mapXtn } from './datatypes-people.js';
import { decimal, observationValue } from './observation-value.js';
import { toFhirDate, toFhirDateTime, toFhirInstant } from './datetime.js';
import { compact } from './map-context.js';
import { nth } from '../segment.js';

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

/** Split paths by field, repetition, component, subcomponent (small integers: arrays, not a Map keyed by a non-Smi number). */
const splitPaths: Hl7ValuePath[][][][] = [];

function splitPath(field: number, rep: number, comp: number, sub: number): Hl7ValuePath {
  const byRep = (splitPaths[field] ??= []);
  const byComp = (byRep[rep] ??= []);
  const bySub = (byComp[comp] ??= []);
  return (bySub[sub] ??= { segmentIndex: 1, field, repetition: rep, component: comp, subcomponent: sub });
}

/** The value at field[rep].comp.sub, through the segment's fast path when it has one. */
export function valueAt(seg: Hl7Segment, field: number, rep: number, comp: number, sub: number): string | undefined {
  if (seg.valueAt === undefined) return seg.get(`${field}[${rep}].${comp}.${sub}`);
  // Beyond what a template can name (3-digit paths) or a message would repeat: no cache entry.
  if (field > 999 || rep > 64 || comp > 999 || sub > 999) return seg.valueAt({ segmentIndex: 1, field, repetition: rep, component: comp, subcomponent: sub });
  return seg.valueAt(splitPath(field, rep, comp, sub));
}

/** A segment that hands out a field's undecoded text (ParsedSegment does). */
interface RawFields {
  rawField(field: number): string | undefined;
}

function hasRawFields(seg: Hl7Segment): seg is Hl7Segment & RawFields {
  return typeof (seg as Partial<RawFields>).rawField === 'function';
}

/** One repetition's text and where each component starts (then text.length + 1): found once, sliced on demand. */
interface SplitRepetition {
  text: string;
  starts: number[];
}

/**
 * The components of one repetition, located once (a data-type mapper asks
 * for up to a dozen): undefined when the segment cannot give its raw field
 * text or the field is MSH-1/MSH-2. Values holding the escape character are
 * then read through the segment itself, which decodes them.
 */
function splitRepetition(seg: Hl7Segment, d: Delimiters | undefined, field: number, rep: number): SplitRepetition | null | undefined {
  if (d === undefined || d.escape === '' || !hasRawFields(seg) || (field <= 2 && (seg.name === 'MSH' || seg.name === 'FHS' || seg.name === 'BHS'))) return undefined;
  const raw = seg.rawField(field);
  if (raw === undefined || raw === '') return null;
  const text = nth(raw, d.repetition, rep - 1);
  if (text === undefined || text === '') return null;
  const starts = [0];
  const sep = d.component;
  for (let i = text.indexOf(sep); i >= 0; i = text.indexOf(sep, i + 1)) starts.push(i + 1);
  starts.push(text.length + 1);
  return { text, starts };
}

/** One repetition as a composite: component/subcomponent access under the path. */
export function composite(seg: Hl7Segment, p: SourcePath, rep: number, d?: Delimiters): Composite {
  const f = p.field;
  const comp = p.component;
  const read = (c: number, s: number): string | undefined => trimmed(valueAt(seg, f, rep, c, s));
  let parts: SplitRepetition | null | undefined;
  let split = false;
  /** Component `c`, subcomponent `s`, as the segment would decode it. */
  const at = (c: number, s: number): string | undefined => {
    if (!split) {
      parts = splitRepetition(seg, d, f, rep);
      split = true;
    }
    if (parts === undefined) return read(c, s);
    // Component 0 reads as the first, as the segment's own split does.
    const ci = c < 1 ? 1 : c;
    if (parts === null || ci >= parts.starts.length) return undefined;
    const start = parts.starts[ci - 1]!;
    const end = parts.starts[ci]! - 1;
    if (end <= start) return undefined;
    const text = parts.text.slice(start, end);
    const v = s === 1 && !text.includes(d!.subcomponent) ? text : nth(text, d!.subcomponent, s - 1);
    if (v === undefined || v === '') return undefined;
    return v.includes(d!.escape) ? read(c, s) : trimmed(v);
  };
  if (comp !== undefined) return { c: (i, s) => (s === undefined || s === 1 ? at(comp, i) : undefined) };
  return { c: (i, s) => at(i, s ?? 1) };
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
    case 'XPN': return mapXpn(ctx, composite(seg, p, rep, ctx.delimiters), where);
    case 'CX': return mapCx(ctx, composite(seg, p, rep, ctx.delimiters));
    case 'XAD': return mapXad(ctx, composite(seg, p, rep, ctx.delimiters), where);
    case 'XTN': return mapXtn(ctx, composite(seg, p, rep, ctx.delimiters), where);
    case 'CWE': return mapCwe(ctx, composite(seg, p, rep, ctx.delimiters), where);
    case 'Coding': return mapCoding(ctx, composite(seg, p, rep, ctx.delimiters), where);
    case 'EI': return mapEi(ctx, composite(seg, p, rep, ctx.delimiters));
    case 'HD': return mapHd(ctx, composite(seg, p, rep, ctx.delimiters));
    case 'XCN': return mapXcn(ctx, composite(seg, p, rep, ctx.delimiters));
    case 'XON': return mapXon(ctx, composite(seg, p, rep, ctx.delimiters));
    case 'PL': return mapPl(composite(seg, p, rep, ctx.delimiters));
    case 'CQ': return cq(composite(seg, p, rep, ctx.delimiters));
    case 'DR': return dr(ctx, composite(seg, p, rep, ctx.delimiters));
    case 'ED': return ed(composite(seg, p, rep, ctx.delimiters));
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
  const u = rule.unitFrom === undefined ? undefined : composite(seg, sourcePath(rule.unitFrom), 1, ctx.delimiters);
  const isText = ['ST', 'TX', 'FT'].includes((typeCode ?? 'ST').toUpperCase());
  if (reps > 1 && !isText) ctx.warn(`${where}: repeated OBX-5 values; only the first is mapped`);
  return observationValue(ctx, typeCode, composite(seg, p, 1, ctx.delimiters), joined, u, where);
}
