import type { TextEncoding } from './charset.js';
import { decodeValue } from './escape.js';
import type { Delimiters, Hl7Segment } from './model.js';
import { parsePath, type Hl7Path } from './path.js';

/** What decoding a value needs from its message. */
export interface ValueContext {
  readonly delimiters: Delimiters;
  readonly encoding: TextEncoding;
}

/** Segments whose field 1 is the field separator itself and field 2 the encoding characters. */
export function isHeaderSegment(name: string): boolean {
  return name === 'MSH' || name === 'FHS' || name === 'BHS';
}

/** The `n`-th (0-based) piece of `text` split on `sep`, without allocating the other pieces. */
export function nth(text: string, sep: string, n: number): string | undefined {
  let start = 0;
  for (let i = 0; i < n; i++) {
    const next = text.indexOf(sep, start);
    if (next < 0) return undefined;
    start = next + 1;
  }
  const end = text.indexOf(sep, start);
  return end < 0 ? (start === 0 ? text : text.slice(start)) : text.slice(start, end);
}

/**
 * A segment that splits itself into fields on first use and decodes only the
 * values asked for: most consumers read a handful of fields per segment.
 */
export class ParsedSegment implements Hl7Segment {
  readonly name: string;
  readonly raw: string;
  private readonly ctx: ValueContext;
  private readonly header: boolean;
  /** Where each piece between field separators starts (piece 0 is the id), then raw.length + 1; built on first use. */
  private starts: number[] | undefined;

  constructor(name: string, raw: string, ctx: ValueContext) {
    this.name = name;
    this.raw = raw;
    this.ctx = ctx;
    this.header = isHeaderSegment(name);
  }

  get fieldCount(): number {
    const pieces = this.index().length - 1;
    // MSH-1 is the field separator itself, which has no piece of its own.
    return this.header ? pieces : pieces - 1;
  }

  get(path: string): string | undefined {
    const p = parsePath(path);
    if (p.segment !== undefined) return p.segment === this.name && p.segmentIndex === 1 ? this.valueAt(p) : undefined;
    return this.valueAt(p);
  }

  repetitions(field: number): number {
    const value = this.rawField(field);
    if (value === undefined || value === '') return 0;
    if (field <= 2 && this.header) return 1;
    let count = 1;
    const sep = this.ctx.delimiters.repetition;
    for (let i = value.indexOf(sep); i >= 0; i = value.indexOf(sep, i + 1)) count++;
    return count;
  }

  /** The field's exact text (escapes undecoded), or undefined when absent. */
  rawField(field: number): string | undefined {
    if (field < 1) return undefined;
    let piece = field;
    if (this.header) {
      if (field === 1) return this.ctx.delimiters.field;
      piece = field - 1;
    }
    const starts = this.index();
    if (piece + 1 >= starts.length) return undefined;
    return this.raw.slice(starts[piece], starts[piece + 1]! - 1);
  }

  valueAt(p: Hl7Path): string | undefined {
    return this.valueIn(this.rawField(p.field), p);
  }

  /** The value at `p` within `field`, the text of field `p.field` of this segment. */
  valueIn(field: string | undefined, p: Hl7Path): string | undefined {
    if (field === undefined || field === '') return undefined;
    if (p.field <= 2 && this.header) return field;
    const d = this.ctx.delimiters;
    const rep = nth(field, d.repetition, p.repetition - 1);
    if (rep === undefined || rep === '') return undefined;
    const comp = nth(rep, d.component, p.component - 1);
    if (comp === undefined || comp === '') return undefined;
    const sub = nth(comp, d.subcomponent, p.subcomponent - 1);
    if (sub === undefined || sub === '') return undefined;
    return decodeValue(sub, d, this.ctx.encoding);
  }

  // Offsets rather than raw.split(): a reader asks for a few fields, and unrequested ones then cost no string.
  private index(): number[] {
    if (this.starts) return this.starts;
    const raw = this.raw;
    const sep = this.ctx.delimiters.field;
    const starts = [0];
    for (let i = raw.indexOf(sep); i >= 0; i = raw.indexOf(sep, i + 1)) starts.push(i + 1);
    starts.push(raw.length + 1);
    this.starts = starts;
    return starts;
  }
}
